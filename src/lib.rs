//! chatsynth: production-shaped synthetic chat datasets, streamed into
//! PostgreSQL through parallel binary COPY.
//!
//! The flow, module by module:
//!
//! - [`cli`] (clap types) -> [`config`]: a validated band preset + overrides + seed.
//! - [`gen`]: the plan (exact counts, per-conversation sizes and message counts,
//!   members), RNG streams, distributions, and one generator per table. Every
//!   entity is a pure function of (seed, table, index), so any worker can make
//!   any slice and the same seed gives the same rows for any worker count.
//! - [`copy`]: the PGCOPY binary encoder (rows go straight into `BytesMut` chunks).
//! - [`load`]: phases, the pipeline (generator threads -> bounded channels ->
//!   parallel `COPY ... FROM STDIN (FORMAT binary)` streams on pooled
//!   connections), the staging schema, deferred index/constraint builds and the
//!   atomic swap into the target schema.
//! - [`report`]: the versioned JSON report and the terminal summary.
//! - [`validate`]: integrity and fidelity checks measured in SQL; GO / NO-GO.
//! - [`explain`]: hot-path query plans before and after candidate indexes.
//! - [`profile`]: a database's shape as aggregates (production or a dataset),
//!   and two shapes compared (`profile --compare`, `validate --against`).
//! - [`html`]: the self-contained HTML pages of `validate --html` and
//!   `explain --compare --html` (plotters SVG charts, a minijinja template).
//! - [`metrics`]: a finished run's result in the Prometheus text format (`--metrics-file`).
//! - [`schema_check`]: `chatsynth schema check`, how each column of the target
//!   will be filled and every problem a load would meet, with its fix.
//! - [`embedded`]: a private PostgreSQL cluster, the default target.
//! - [`db`] and [`error`]: connections, quoting, typed errors.

pub mod clean;
pub mod cli;
pub mod config;
pub mod copy;
pub mod db;
pub mod embedded;
pub mod error;
pub mod explain;
pub mod gen;
pub mod generate;
pub mod html;
pub mod load;
pub mod metrics;
pub mod model;
pub mod profile;
pub mod progress;
pub mod report;
pub mod schema_check;
pub mod settings;
pub mod tls;
pub mod validate;

pub use error::{Error, Result};
