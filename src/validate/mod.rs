//! `chatsynth validate`: integrity and fidelity measured in SQL. (Stub.)

use crate::cli::ValidateArgs;
use crate::db::Target;
use crate::error::{Error, Result};

/// Runs validation; returns the exit code (0 GO, 1 NO-GO).
pub async fn run(_target: &Target, _args: &ValidateArgs) -> Result<u8> {
    Err(Error::Other("validate is not implemented yet".into()))
}
