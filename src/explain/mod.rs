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
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::cli::ExplainArgs;
use crate::db::Target;
use crate::error::{Error, Result};

/// Runs the explain subcommand; returns the process exit code (0 GO / capture ok, 1 NO-GO).
pub async fn run(target: Option<&Target>, args: &ExplainArgs) -> Result<u8> {
    let now = SystemTime::now();
    if let Some(files) = &args.compare {
        if args.apply_indexes.is_some() || args.params_from.is_some() {
            return Err(Error::Config(
                "--compare cannot be combined with --apply-indexes or --params-from".into(),
            ));
        }
        let [before_path, after_path] = files.as_slice() else {
            return Err(Error::Config(
                "--compare takes two files: BEFORE AFTER".into(),
            ));
        };
        let before = capture::Capture::read(before_path)?;
        let after = capture::Capture::read(after_path)?;
        let mut cmp = compare::compare(&before, &after);
        cmp.compared_at = iso_utc(now);
        cmp.before = before_path.display().to_string();
        cmp.after = after_path.display().to_string();
        let out = out_path(args.out.as_deref(), "explain-compare", now);
        write_json(&out, &cmp)?;
        print!("{}", compare::render(&cmp));
        println!("comparison written to {}", out.display());
        if let Some(html) = &args.html {
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
        return Ok(if cmp.go { 0 } else { 1 });
    }
    let target = target.ok_or_else(|| {
        Error::Config("explain needs a database (--database-url) unless --compare is given".into())
    })?;
    if let Some(set) = &args.apply_indexes {
        if args.params_from.is_some() {
            return Err(Error::Config(
                "--apply-indexes cannot be combined with --params-from".into(),
            ));
        }
        let report = indexes::apply(target, set, iso_utc(now)).await?;
        let out = out_path(args.out.as_deref(), "explain-indexes", now);
        write_json(&out, &report)?;
        print!("{}", indexes::render(&report));
        println!("report written to {}", out.display());
        return Ok(0);
    }
    if args.runs == 0 {
        return Err(Error::Config("--runs must be at least 1".into()));
    }
    let baseline = match &args.params_from {
        Some(p) => Some((capture::Capture::read(p)?, p.display().to_string())),
        None => None,
    };
    let cap = capture::capture(
        target,
        args.runs,
        baseline.as_ref().map(|(c, p)| (c, p.clone())),
        iso_utc(now),
    )
    .await?;
    let out = out_path(args.out.as_deref(), "explain", now);
    write_json(&out, &cap)?;
    print!("{}", capture::render(&cap));
    println!("capture written to {}", out.display());
    Ok(0)
}

fn out_path(given: Option<&Path>, prefix: &str, now: SystemTime) -> PathBuf {
    match given {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from("reports").join(format!("{prefix}-{}.json", compact_utc(now))),
    }
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Other(format!("serializing {}: {e}", path.display())))?;
    std::fs::write(path, text + "\n")
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// (year, month, day, hour, minute, second) in UTC.
fn civil_utc(t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// `2024-05-01T12:34:56Z`
pub fn iso_utc(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil_utc(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `20240501T123456Z`, for file names.
pub fn compact_utc(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil_utc(t);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_formatting() {
        let t = UNIX_EPOCH + Duration::from_secs(1_714_566_896); // 2024-05-01T12:34:56Z
        assert_eq!(iso_utc(t), "2024-05-01T12:34:56Z");
        assert_eq!(compact_utc(t), "20240501T123456Z");
        assert_eq!(iso_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(iso_utc(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn default_paths_live_under_reports() {
        let t = UNIX_EPOCH + Duration::from_secs(1_714_566_896);
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
