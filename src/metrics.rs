//! The nightly job's metrics: a finished command's typed result (a load or
//! refresh [`RunReport`], a validation [`Gate`], a [`CleanReport`], or the error
//! that ended it) rendered in the Prometheus text exposition format, for
//! node_exporter's textfile collector (`--metrics-file`).
//!
//! Place in the flow: the last step of `load`, `refresh`, `validate` and
//! `clean`, after the command's own report is written. Nothing here talks to
//! the database. The file is written atomically (a temporary file in the same
//! folder, then a rename), so the collector never reads half a file; the
//! folder is checked before the command starts (`util::json::check_writable`,
//! the same check as `--html`'s).
//!
//! Every series carries a `command` label, so the files of several commands can
//! sit side by side in the collector's folder. All families are gauges: each
//! file describes the last run of its command. A failed run keeps the previous
//! file's `chatsynth_last_success_timestamp_seconds`, so an alert on its age
//! fires when the nightly job stops succeeding.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::clean::CleanReport;
use crate::error::{Error, Result};
use crate::model::{Command, Outcome, Verdict};
use crate::report::RunReport;
use crate::validate::checks::{Kind, Status};
use crate::validate::Gate;

/// The outcomes a run can end with (a one-hot family).
const OUTCOMES: [Outcome; 3] = [Outcome::Completed, Outcome::Failed, Outcome::Interrupted];

/// Seconds since the Unix epoch, now.
fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A value as the text format spells it (`+Inf`, `-Inf`, `NaN`).
fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// A label value escaped for the text format (backslash, quote, newline).
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Builds the exposition text family by family: each family's HELP and TYPE,
/// then its samples, so samples of one family are never split.
struct Exposition {
    text: String,
    command: &'static str,
}

impl Exposition {
    fn new(command: &'static str) -> Exposition {
        Exposition {
            text: String::new(),
            command,
        }
    }

    /// Starts a gauge family.
    fn gauge(&mut self, name: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} gauge");
        self
    }

    /// One sample of the family just started; `command` is always the first label.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) -> &mut Self {
        let _ = write!(self.text, "{name}{{command=\"{}\"", escape(self.command));
        for (k, l) in labels {
            let _ = write!(self.text, ",{k}=\"{}\"", escape(l));
        }
        let _ = writeln!(self.text, "}} {}", value(v));
        self
    }

    /// How the run ended: outcome (one-hot), success, exit code, duration, and
    /// when it finished; the last success is now or the previous file's.
    fn ending(
        &mut self,
        outcome: Outcome,
        exit_code: u8,
        duration_s: f64,
        last_success_s: Option<f64>,
    ) -> &mut Self {
        let m = "chatsynth_run_outcome";
        self.gauge(
            m,
            "1 for the way the last run ended (completed, failed or interrupted), 0 for the others.",
        );
        for o in OUTCOMES {
            self.sample(
                m,
                &[("outcome", o.as_str())],
                f64::from(u8::from(o == outcome)),
            );
        }
        let m = "chatsynth_run_success";
        self.gauge(
            m,
            "1 if the last run exited 0 (for validate: completed with GO), else 0.",
        )
        .sample(m, &[], f64::from(u8::from(exit_code == 0)));
        let m = "chatsynth_run_exit_code";
        self.gauge(m, "Exit code of the last run (0 done/GO, 1 failed/NO-GO, 2 bad input or refused, 130/143 interrupted).")
            .sample(m, &[], f64::from(exit_code));
        let m = "chatsynth_run_duration_seconds";
        self.gauge(m, "Wall-clock duration of the last run.")
            .sample(m, &[], duration_s);
        let m = "chatsynth_run_finished_timestamp_seconds";
        let now = now_s();
        self.gauge(
            m,
            "When the last run ended, in seconds since the Unix epoch.",
        )
        .sample(m, &[], now);
        let last = if exit_code == 0 {
            Some(now)
        } else {
            last_success_s
        };
        if let Some(t) = last {
            let m = "chatsynth_last_success_timestamp_seconds";
            self.gauge(
                m,
                "When a run of this command last succeeded, in seconds since the Unix epoch.",
            )
            .sample(m, &[], t);
        }
        self
    }
}

/// A load's or refresh's metrics: rows, bytes and rows/s per table, duration per
/// phase and post-load step, totals, peak memory, then how it ended.
pub fn render_run(r: &RunReport, last_success_s: Option<f64>) -> String {
    let command = match r.command {
        Command::Refresh => "refresh",
        _ => "load",
    };
    let mut x = Exposition::new(command);
    let tables: Vec<_> = r.phases.iter().flat_map(|p| &p.tables).collect();
    let m = "chatsynth_table_rows";
    x.gauge(m, "Rows the last run loaded into the table.");
    for t in &tables {
        x.sample(m, &[("table", &t.table)], t.rows as f64);
    }
    let m = "chatsynth_table_bytes";
    x.gauge(m, "PGCOPY bytes the last run sent for the table.");
    for t in &tables {
        x.sample(m, &[("table", &t.table)], t.bytes as f64);
    }
    let m = "chatsynth_table_rows_per_second";
    x.gauge(
        m,
        "Rows per second of the table's COPY streams in the last run.",
    );
    for t in &tables {
        x.sample(m, &[("table", &t.table)], t.rows_per_sec);
    }
    let m = "chatsynth_phase_duration_seconds";
    x.gauge(
        m,
        "Duration of each phase of the last run: plan, load phases, then post-load steps.",
    );
    x.sample(m, &[("phase", "plan")], r.plan_ms / 1000.0);
    for p in &r.phases {
        x.sample(m, &[("phase", &p.phase)], p.elapsed_ms / 1000.0);
    }
    for s in &r.post_load {
        x.sample(m, &[("phase", &s.step)], s.elapsed_ms / 1000.0);
    }
    let m = "chatsynth_rows";
    x.gauge(m, "Rows the last run loaded, all tables.")
        .sample(m, &[], r.totals.rows as f64);
    let m = "chatsynth_rows_per_second";
    x.gauge(m, "Rows per second of the last run, end to end.")
        .sample(m, &[], r.totals.rows_per_sec);
    let m = "chatsynth_peak_rss_bytes";
    x.gauge(m, "Peak resident memory of the last run.").sample(
        m,
        &[],
        r.peak_rss_mb * 1024.0 * 1024.0,
    );
    let seed = r.seed.to_string();
    let m = "chatsynth_run_info";
    x.gauge(m, "Always 1; the labels say what the last run loaded.")
        .sample(
            m,
            &[
                ("band", &r.band),
                ("seed", &seed),
                ("version", &r.tool_version),
            ],
            1.0,
        );
    let exit_code = match r.outcome {
        Outcome::Completed => 0,
        _ => 1,
    };
    x.ending(
        r.outcome,
        exit_code,
        r.totals.elapsed_ms / 1000.0,
        last_success_s,
    );
    x.text
}

/// A validation's metrics: the verdict, checks by kind and status, each
/// check's measured value and result, then how it ended.
pub fn render_validate(g: &Gate, last_success_s: Option<f64>) -> String {
    let mut x = Exposition::new("validate");
    let m = "chatsynth_validate_go";
    x.gauge(m, "1 if the last validation decided GO, 0 for NO-GO.")
        .sample(m, &[], f64::from(u8::from(g.decision.verdict.is_go())));
    let m = "chatsynth_validate_verdict";
    x.gauge(
        m,
        "1 for the last validation's verdict (GO or NO-GO), 0 for the other.",
    );
    for v in [Verdict::Go, Verdict::NoGo] {
        x.sample(
            m,
            &[("verdict", v.as_str())],
            f64::from(u8::from(g.decision.verdict == v)),
        );
    }
    let kind = |k: Kind| match k {
        Kind::Critical => "critical",
        Kind::Warning => "warning",
    };
    let status = |s: Status| match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Skipped => "skipped",
    };
    let m = "chatsynth_validate_checks";
    x.gauge(m, "Checks of the last validation, by kind and status.");
    for k in [Kind::Critical, Kind::Warning] {
        for s in [Status::Pass, Status::Fail, Status::Skipped] {
            let n = g
                .checks
                .iter()
                .filter(|c| c.kind == k && c.status == s)
                .count();
            x.sample(m, &[("kind", kind(k)), ("status", status(s))], n as f64);
        }
    }
    let m = "chatsynth_validate_check_passed";
    x.gauge(
        m,
        "1 if the check passed, 0 if it failed or could not be measured.",
    );
    for c in &g.checks {
        x.sample(
            m,
            &[("check", &c.name), ("kind", kind(c.kind))],
            f64::from(u8::from(c.status == Status::Pass)),
        );
    }
    let m = "chatsynth_validate_check_measured";
    x.gauge(
        m,
        "The value the check measured (absent when not measured).",
    );
    for c in &g.checks {
        if let Some(v) = c.measured {
            x.sample(m, &[("check", &c.name), ("kind", kind(c.kind))], v);
        }
    }
    let m = "chatsynth_phase_duration_seconds";
    x.gauge(m, "Duration of each phase of the last run.")
        .sample(m, &[("phase", "validate")], g.elapsed_ms as f64 / 1000.0);
    x.ending(
        Outcome::Completed,
        g.exit_code(),
        g.elapsed_ms as f64 / 1000.0,
        last_success_s,
    );
    x.text
}

/// A clean's metrics: rows removed and kept per table, then how it ended.
pub fn render_clean(c: &CleanReport, last_success_s: Option<f64>) -> String {
    let mut x = Exposition::new("clean");
    let m = "chatsynth_clean_rows_removed";
    x.gauge(m, "Rows the last clean removed from the table.");
    for (t, removed, _) in &c.tables {
        x.sample(m, &[("table", t.name())], *removed as f64);
    }
    let m = "chatsynth_clean_rows_kept";
    x.gauge(m, "Rows left in the table after the last clean.");
    for (t, _, kept) in &c.tables {
        x.sample(m, &[("table", t.name())], *kept as f64);
    }
    let m = "chatsynth_clean_truncated";
    x.gauge(
        m,
        "1 if every user was synthetic and the tables were truncated.",
    )
    .sample(m, &[], f64::from(u8::from(c.truncated)));
    let m = "chatsynth_phase_duration_seconds";
    x.gauge(m, "Duration of each phase of the last run.")
        .sample(m, &[("phase", "clean")], c.elapsed_ms / 1000.0);
    x.ending(Outcome::Completed, 0, c.elapsed_ms / 1000.0, last_success_s);
    x.text
}

/// A run that ended in an error before it produced a result: its outcome,
/// exit code and duration; the last success is carried over.
pub fn render_failure(
    command: &'static str,
    e: &Error,
    duration_s: f64,
    last_success_s: Option<f64>,
) -> String {
    let mut x = Exposition::new(command);
    x.ending(
        Outcome::of(Some(e)),
        e.exit_code(),
        duration_s,
        last_success_s,
    );
    x.text
}

/// `chatsynth_last_success_timestamp_seconds` of `command` in an earlier
/// metrics file at `path`, if there is one.
pub fn previous_success(path: &Path, command: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let prefix = format!(
        "chatsynth_last_success_timestamp_seconds{{command=\"{}\"}} ",
        escape(command)
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// Writes `text` to `path` atomically (the crate's one file writer).
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    crate::util::json::write_text_atomic(path, text).map_err(|e| {
        Error::io(
            format!("cannot write the metrics file {}", path.display()),
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_labels_are_spelled_as_the_format_wants() {
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(1.5), "1.5");
        assert_eq!(value(1e6), "1000000");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn a_failure_keeps_the_previous_success_and_writes_atomically() {
        let dir = std::env::temp_dir().join(format!("chatsynth-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("load.prom");
        let e = Error::Other("boom".into());
        // No earlier file: no last success.
        let first = render_failure("load", &e, 2.0, previous_success(&path, "load"));
        assert!(!first.contains("chatsynth_last_success_timestamp_seconds"));
        assert!(first.contains("chatsynth_run_outcome{command=\"load\",outcome=\"failed\"} 1"));
        assert!(first.contains("chatsynth_run_exit_code{command=\"load\"} 1"));
        std::fs::write(
            &path,
            "chatsynth_last_success_timestamp_seconds{command=\"load\"} 1764000000.5\n",
        )
        .unwrap();
        assert_eq!(previous_success(&path, "load"), Some(1764000000.5));
        assert_eq!(previous_success(&path, "clean"), None);
        let again = render_failure("load", &e, 2.0, previous_success(&path, "load"));
        write_atomic(&path, &again).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text
            .contains("chatsynth_last_success_timestamp_seconds{command=\"load\"} 1764000000.5"));
        // Only the metrics file is left in the folder: no temporary file, no probe.
        crate::util::json::check_writable(&path).unwrap();
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("load.prom")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
