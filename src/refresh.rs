//! `chatsynth refresh`: a load whose staged dataset must pass validate's
//! integrity checks before the swap replaces the live one. This command sits
//! above both `load` and `validate`, which do not know each other: it hands
//! the check to the load as a [`load::StagedCheck`].

use std::path::PathBuf;

use futures::future::BoxFuture;

use crate::config::DatasetConfig;
use crate::db::Target;
use crate::error::Result;
use crate::load::{self, LoadOptions, StagedCheck};
use crate::report::RunReport;

/// Validate's critical integrity checks, run on the staged data.
struct IntegrityGate;

impl StagedCheck for IntegrityGate {
    fn name(&self) -> &'static str {
        "integrity validation of the staged data"
    }

    fn failures<'a>(
        &'a self,
        staged: &'a Target,
        dataset: &'a DatasetConfig,
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(crate::validate::integrity_failures(staged, dataset))
    }
}

/// Runs the refresh (options from `settings::refresh`) and writes its report.
pub async fn run(opts: &LoadOptions) -> Result<(RunReport, PathBuf)> {
    load::run(opts, Some(&IntegrityGate)).await
}
