//! chatsynth: production-shaped synthetic chat datasets, streamed into
//! PostgreSQL through parallel binary COPY.
//!
//! The modules, from the commands down (docs/architecture.md draws the
//! dependency graph; every arrow points one way):
//!
//! - Entry: `main.rs` parses [`cli`] (clap types only); [`settings`] turns them
//!   once into validated options ([`config`]: band preset + overrides + seed).
//! - Commands: [`load`] (plan, phases of generator threads -> bounded channels ->
//!   parallel `COPY ... FROM STDIN (FORMAT binary)` streams into a staging
//!   schema, deferred index/constraint builds, the swap), [`refresh`] (a load
//!   whose staged data must pass validate's integrity checks before the swap),
//!   [`generate`] (the same rows into PGCOPY files, or discarded), [`validate`] (integrity and
//!   fidelity measured in SQL; GO / NO-GO; `--against` a profile), [`profile`]
//!   (a database's shape as aggregates; two shapes compared), [`explain`] (hot-path query plans
//!   before and after candidate indexes), [`schema_check`] (`chatsynth schema
//!   check`: how each column of the target will be filled and every problem a
//!   load would meet, with its fix), [`clean`] (removes the synthetic rows),
//!   [`embedded`] (a private PostgreSQL cluster, the default target).
//! - After a command: [`metrics`] (a finished run's result in the Prometheus
//!   text format, `--metrics-file`) and [`html`] (validate's, explain's and
//!   profile's results as a self-contained page, `--html`).
//! - Shared by the commands: [`report`] (the versioned JSON run report and the
//!   terminal summary), [`progress`] (bars or periodic lines).
//! - The layers below: [`gen`] (the plan, RNG streams, distributions, one
//!   generator per table; every entity is a pure function of (seed, table,
//!   index), so any worker makes any slice and the same seed gives the same
//!   rows for any worker count; and the producer side of every phase:
//!   generator threads -> bounded channels -> a consumer), [`copy`] (the PGCOPY
//!   format: the encoder and the writers that own header and trailer),
//!   [`catalog`] (what is read from a database's catalog: tables, columns,
//!   indexes, constraints, privileges; the stage, the swap and the run ledger),
//!   [`db`] and [`tls`] (connections, quoting), [`model`] (the seven tables and
//!   their columns; the command, outcome and verdict types), [`error`] (typed
//!   errors), and [`util`] (calendar, number formatting, the JSON file writer;
//!   depends on nothing of ours).

pub mod catalog;
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
pub mod refresh;
pub mod report;
pub mod rules;
pub mod schema_check;
pub mod settings;
pub mod tls;
pub mod util;
pub mod validate;

pub use error::{Error, Result};
