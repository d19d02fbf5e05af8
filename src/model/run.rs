//! The words a run is described by: which command ran ([`Command`]), how it
//! ended ([`Outcome`]), and what a quality gate decided ([`Verdict`]). Reports
//! and the ledger write them as the strings they always had.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The commands that write a run report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    Load,
    Refresh,
    Generate,
}

impl Command {
    /// `load`, `refresh` or `generate` (reports, the ledger, file names).
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Load => "load",
            Command::Refresh => "refresh",
            Command::Generate => "generate",
        }
    }
}

/// How a run ended (`running` until it has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Running,
    Completed,
    Failed,
    Interrupted,
}

impl Outcome {
    /// The outcome of a run that ended with `error` (or without).
    pub fn of(error: Option<&Error>) -> Outcome {
        match error {
            None => Outcome::Completed,
            Some(Error::Interrupted { .. }) => Outcome::Interrupted,
            Some(_) => Outcome::Failed,
        }
    }

    /// `running`, `completed`, `failed` or `interrupted`, as in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
        }
    }

    /// The ledger's `status`: an interrupted run is `FAILED` there.
    pub(crate) fn ledger_status(self) -> &'static str {
        match self {
            Outcome::Running => "RUNNING",
            Outcome::Completed => "COMPLETED",
            Outcome::Failed | Outcome::Interrupted => "FAILED",
        }
    }
}

/// A quality gate's decision (validate, explain --compare). Reports write it
/// as `"GO"` / `"NO-GO"` next to a boolean `go`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    #[serde(rename = "GO")]
    Go,
    #[serde(rename = "NO-GO")]
    NoGo,
}

impl Verdict {
    /// GO when nothing stands in the way.
    pub(crate) fn go_if(ok: bool) -> Verdict {
        if ok {
            Verdict::Go
        } else {
            Verdict::NoGo
        }
    }

    pub(crate) fn is_go(self) -> bool {
        self == Verdict::Go
    }

    /// `GO` or `NO-GO`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Go => "GO",
            Verdict::NoGo => "NO-GO",
        }
    }

    /// The process exit code of a gate: 0 GO, 1 NO-GO.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Go => 0,
            Verdict::NoGo => 1,
        }
    }
}

/// Serde glue, with `#[serde(flatten, with = "...")]`: a verdict written as
/// `"go": bool` then `"verdict": "GO"` (validate's decision; written only).
pub mod go_then_verdict {
    use super::Verdict;
    use serde::ser::SerializeStruct;
    use serde::Serializer;

    pub(crate) fn serialize<S: Serializer>(v: &Verdict, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Verdict", 2)?;
        st.serialize_field("go", &v.is_go())?;
        st.serialize_field("verdict", v)?;
        st.end()
    }
}

/// Serde glue, with `#[serde(flatten, with = "...")]`: a verdict written as
/// `"decision": "GO"` then `"go": bool` (explain's comparison).
pub mod decision_then_go {
    use super::Verdict;
    use serde::ser::SerializeStruct;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &Verdict, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Verdict", 2)?;
        st.serialize_field("decision", v)?;
        st.serialize_field("go", &v.is_go())?;
        st.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Verdict, D::Error> {
        #[derive(Deserialize)]
        struct Fields {
            decision: Verdict,
        }
        Ok(Fields::deserialize(d)?.decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_as_the_strings_reports_always_had() {
        #[derive(Serialize)]
        struct D {
            #[serde(flatten, with = "go_then_verdict")]
            verdict: Verdict,
            n: u32,
        }
        #[derive(Serialize, Deserialize)]
        struct C {
            #[serde(flatten, with = "decision_then_go")]
            verdict: Verdict,
        }
        let d = serde_json::to_string(&D {
            verdict: Verdict::NoGo,
            n: 1,
        })
        .unwrap();
        assert_eq!(d, r#"{"go":false,"verdict":"NO-GO","n":1}"#);
        let c = serde_json::to_string(&C {
            verdict: Verdict::Go,
        })
        .unwrap();
        assert_eq!(c, r#"{"decision":"GO","go":true}"#);
        let back: C = serde_json::from_str(&c).unwrap();
        assert_eq!(back.verdict, Verdict::Go);
        assert_eq!(
            serde_json::to_string(&[Outcome::Running, Outcome::Interrupted]).unwrap(),
            r#"["running","interrupted"]"#
        );
        assert_eq!(
            serde_json::to_string(&Command::Refresh).unwrap(),
            r#""refresh""#
        );
        assert_eq!(Outcome::Interrupted.ledger_status(), "FAILED");
    }
}
