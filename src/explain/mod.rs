//! `chatsynth explain`: prove an index change with plans captured before and
//! after. Three modes, one per invocation:
//!
//! - capture (default): [`capture`] samples parameters from the loaded data (or
//!   reuses a baseline's with `--params-from`), runs each hot-path query of
//!   `sql/queries/` under `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` and writes
//!   a capture JSON; [`plan`] reads the plans.
//! - `--apply-indexes SET`: [`indexes`] builds a candidate set concurrently and analyzes.
//! - `--compare BEFORE AFTER`: [`compare`] decides GO (exit 0) or NO-GO (exit 1);
//!   with `--html FILE`, `crate::html` also writes the comparison's page.

pub mod capture;
pub mod compare;
pub mod indexes;
pub mod plan;
pub mod queries;

use std::path::{Path, PathBuf};

use crate::db::Target;
use crate::error::{Error, Result};
use crate::report::write_json;
use crate::util::calendar::{compact, iso8601, now_ms};

/// Which of the three modes, with its inputs (built by `settings::explain`).
#[derive(Debug, Clone)]
pub enum ExplainMode {
    /// Capture plans (default), optionally with a baseline's parameters.
    Capture {
        runs: usize,
        params_from: Option<PathBuf>,
    },
    /// Build a candidate index set and analyze.
    ApplyIndexes { set: String },
    /// Compare two captures and decide GO / NO-GO.
    Compare { before: PathBuf, after: PathBuf },
}

#[derive(Debug, Clone)]
pub struct ExplainOptions {
    pub mode: ExplainMode,
    /// Where to write the JSON; `None` = `reports/<kind>-<time>.json`.
    pub out: Option<PathBuf>,
    /// With `--compare`: also write the comparison as an HTML page here.
    pub html: Option<PathBuf>,
}

/// Runs the explain subcommand; returns the process exit code (0 GO / capture ok, 1 NO-GO).
pub async fn run(target: Option<&Target>, opts: &ExplainOptions) -> Result<u8> {
    let now = now_ms();
    let out = opts.out.as_deref();
    let needs_target = || {
        target.ok_or_else(|| {
            Error::Config(
                "explain needs a database (--database-url) unless --compare is given".into(),
            )
        })
    };
    match &opts.mode {
        ExplainMode::Compare {
            before: before_path,
            after: after_path,
        } => {
            let before = capture::Capture::read(before_path)?;
            let after = capture::Capture::read(after_path)?;
            let mut cmp = compare::compare(&before, &after);
            cmp.compared_at = iso8601(now);
            cmp.before = before_path.display().to_string();
            cmp.after = after_path.display().to_string();
            let out = out_path(out, "explain-compare", now);
            write_json(&out, &cmp)?;
            print!("{}", compare::render(&cmp));
            println!("comparison written to {}", out.display());
            if let Some(html) = &opts.html {
                let json = |what: &str, v: serde_json::Result<serde_json::Value>| {
                    v.map_err(|e| Error::Other(format!("encoding the {what}: {e}")))
                };
                let page = crate::html::explain::page(
                    &json("comparison", serde_json::to_value(&cmp))?,
                    &json("before capture", serde_json::to_value(&before))?,
                    &json("after capture", serde_json::to_value(&after))?,
                )?;
                crate::html::write_atomically(html, &page)?;
                println!("HTML report written to {}", html.display());
            }
            Ok(cmp.verdict.exit_code())
        }
        ExplainMode::ApplyIndexes { set } => {
            let report = indexes::apply(needs_target()?, set, iso8601(now)).await?;
            let out = out_path(out, "explain-indexes", now);
            write_json(&out, &report)?;
            print!("{}", indexes::render(&report));
            println!("report written to {}", out.display());
            Ok(0)
        }
        ExplainMode::Capture { runs, params_from } => {
            let target = needs_target()?;
            let baseline = match params_from {
                Some(p) => Some((capture::Capture::read(p)?, p.display().to_string())),
                None => None,
            };
            let cap = capture::capture(
                target,
                *runs,
                baseline.as_ref().map(|(c, p)| (c, p.clone())),
                iso8601(now),
            )
            .await?;
            let out = out_path(out, "explain", now);
            write_json(&out, &cap)?;
            print!("{}", capture::render(&cap));
            println!("capture written to {}", out.display());
            Ok(0)
        }
    }
}

fn out_path(given: Option<&Path>, prefix: &str, now_ms: i64) -> PathBuf {
    match given {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from("reports").join(format!("{prefix}-{}.json", compact(now_ms))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_paths_live_under_reports() {
        let t = 1_714_566_896_000; // 2024-05-01T12:34:56Z
        assert_eq!(
            out_path(None, "explain", t),
            PathBuf::from("reports/explain-20240501T123456Z.json")
        );
        assert_eq!(
            out_path(Some(Path::new("x.json")), "explain", t),
            PathBuf::from("x.json")
        );
    }
}
