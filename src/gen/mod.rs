//! Generation, end to end: the plan, RNG streams, distributions, value pools,
//! one generator per table group, and the producer side of the pipeline
//! (`pipeline`: generator threads, units, chunks, and the one phase runner
//! that feeds a consumer: `load`'s COPY streams or `generate`'s files).

pub mod children;
pub mod dist;
pub mod ids;
pub(crate) mod pipeline;
pub mod plan;
pub mod pools;
pub mod rng;
pub mod tables;
pub mod time;

pub use plan::{realised_targets, Plan};

/// The plan and value pools of a configuration, built on a blocking thread;
/// also returns how long that took, in ms.
pub async fn prepare(
    cfg: &crate::config::DatasetConfig,
) -> crate::Result<(std::sync::Arc<Plan>, std::sync::Arc<pools::Pools>, f64)> {
    let t0 = std::time::Instant::now();
    // What validate could not check without a database (an enum choice
    // whose labels the load did not fill in) is refused here, not panicked on.
    if let Err(problems) = cfg.compile_rules() {
        return Err(crate::Error::Config(format!(
            "invalid configuration: {}",
            problems.join("; ")
        )));
    }
    let cfg = cfg.clone();
    let (plan, pools) =
        tokio::task::spawn_blocking(move || (Plan::build(&cfg), pools::Pools::new(cfg.seed)))
            .await
            .map_err(|e| crate::Error::Other(format!("planning failed: {e}")))?;
    Ok((
        std::sync::Arc::new(plan),
        std::sync::Arc::new(pools),
        t0.elapsed().as_secs_f64() * 1000.0,
    ))
}
