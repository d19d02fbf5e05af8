//! `chatsynth explain`: hot-path query plans captured before and after candidate
//! indexes, and their comparison. (Stub.)

use crate::cli::ExplainArgs;
use crate::db::Target;
use crate::error::{Error, Result};

/// Runs the explain subcommand; returns the process exit code (0 GO / capture ok, 1 NO-GO).
pub async fn run(_target: Option<&Target>, _args: &ExplainArgs) -> Result<u8> {
    Err(Error::Other("explain is not implemented yet".into()))
}
