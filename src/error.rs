//! Typed errors of the library. Each names where it failed (table, phase,
//! column, file); `main` prints the chain once and maps it to an exit code.

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: flags, config file, band. Nothing was written.
    #[error("{0}")]
    Config(String),
    /// Could not reach or talk to the database.
    #[error("cannot connect to {target}: {}", pg_message(.source))]
    Connect {
        target: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// The target schema is not what the generators need (every mismatch at once).
    #[error("the target schema does not match what chatsynth loads:\n  - {}\nRun `chatsynth schema check` for how each column is filled and the SQL that fixes each problem.", .0.join("\n  - "))]
    SchemaDrift(Vec<String>),
    /// A refusal that protects data (non-empty target, non-synthetic rows).
    #[error("{0}")]
    Refused(String),
    /// A database error during a named step.
    #[error("{step}: {}", pg_message(.source))]
    Db {
        step: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// A COPY stream failed.
    #[error("COPY into {table} failed during phase '{phase}': {message}")]
    Copy {
        table: String,
        phase: String,
        message: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The embedded PostgreSQL cluster could not be set up.
    #[error("{0}")]
    Embedded(String),
    /// The run was interrupted by a signal (exit 130 for SIGINT, 143 for SIGTERM).
    #[error("interrupted by {name}; the target was left as it was before the run")]
    Interrupted { name: &'static str, exit_code: u8 },
    #[error("{0}")]
    Other(String),
}

/// The server's message, detail and hint, on one line, instead of tokio-postgres'
/// generic "db error".
pub(crate) fn pg_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} ({})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(&format!("; detail: {d}"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        s
    } else {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(inner) = src {
            s.push_str(&format!(": {inner}"));
            src = inner.source();
        }
        s
    }
}

impl Error {
    pub fn db(step: impl fmt::Display, source: tokio_postgres::Error) -> Error {
        Error::Db {
            step: step.to_string(),
            source,
        }
    }

    pub fn io(context: impl fmt::Display, source: std::io::Error) -> Error {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    /// Exit code: 2 bad input or could not run; 130/143 interrupted; 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted { exit_code, .. } => *exit_code,
            Error::Config(_)
            | Error::SchemaDrift(_)
            | Error::Refused(_)
            | Error::Connect { .. }
            | Error::Embedded(_) => 2,
            _ => 1,
        }
    }
}

/// Extension to attach a step name to tokio-postgres results.
pub(crate) trait DbContext<T> {
    fn step(self, step: impl fmt::Display) -> Result<T>;
}

impl<T> DbContext<T> for std::result::Result<T, tokio_postgres::Error> {
    fn step(self, step: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::db(step, e))
    }
}
