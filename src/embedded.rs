//! The private PostgreSQL cluster chatsynth starts when no database URL is given.
//! (Stub: filled in by the embedded-cluster work.)

use crate::error::{Error, Result};

/// Starts (or reuses) the private cluster and returns its connection URL.
pub async fn ensure_running() -> Result<String> {
    Err(Error::Embedded(
        "no --database-url given and the private cluster is not implemented yet".into(),
    ))
}

/// Stops the private cluster.
pub async fn stop() -> Result<()> {
    Err(Error::Embedded("not implemented yet".into()))
}

/// Prints the private cluster's state.
pub async fn status() -> Result<()> {
    Err(Error::Embedded("not implemented yet".into()))
}
