//! Generation: the plan, RNG streams, distributions, value pools and one
//! generator per table group. Pure and synchronous; the pipeline in `load`
//! runs it on worker threads.

pub mod calendar;
pub mod dist;
pub mod ids;
pub mod plan;
pub mod pools;
pub mod rng;
pub mod tables;
pub mod time;

pub use plan::{realised_targets, Plan};
