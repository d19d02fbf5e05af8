//! Progress of long work and every other line chatsynth writes on stderr:
//! per-table bars (rows, rows/s, ETA) on a terminal, plain periodic lines
//! otherwise (CI logs, nightly jobs), or with `--log-format json` one JSON
//! object per line (`ts`, `level`, `event` and the event's fields): `progress`,
//! `phase_end`, `step_end`, `message`, `warning`, `error` and `run_end`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::model::{PerTable, Table};
use crate::util::num::group;

/// Live row counts per table, written by the consumers of a phase and read
/// by the display.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) rows: PerTable<AtomicU64>,
}

pub(crate) struct Progress {
    stop: Arc<tokio::sync::Notify>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// For the `phase_end` event of JSON logs.
    phase: &'static str,
    tables: &'static [Table],
    expected: PerTable<Option<u64>>,
    counters: Arc<Counters>,
    started: Instant,
}

/// Whether to draw bars: stderr is a terminal, the user did not opt out and
/// the logs are not JSON.
pub(crate) fn fancy(opt_out: bool) -> bool {
    !opt_out && !json_logs() && std::io::stderr().is_terminal()
}

static JSON_LOGS: AtomicBool = AtomicBool::new(false);

/// Switches stderr to one JSON object per line (`--log-format json`); set once,
/// before any work.
pub fn set_json_logs(on: bool) {
    JSON_LOGS.store(on, Ordering::Relaxed);
}

pub(crate) fn json_logs() -> bool {
    JSON_LOGS.load(Ordering::Relaxed)
}

/// One JSON log line: `ts` (UTC, ms), `level`, `event`, then `fields`' keys.
fn emit(level: &str, event: &str, fields: serde_json::Value) {
    let mut obj = serde_json::Map::new();
    obj.insert(
        "ts".into(),
        crate::util::calendar::iso8601(crate::util::calendar::now_ms()).into(),
    );
    obj.insert("level".into(), level.into());
    obj.insert("event".into(), event.into());
    if let serde_json::Value::Object(f) = fields {
        obj.extend(f);
    }
    eprintln!("{}", serde_json::Value::Object(obj));
}

/// A line of information on stderr.
pub(crate) fn note(message: &str) {
    if json_logs() {
        emit("info", "message", serde_json::json!({ "message": message }));
    } else {
        eprintln!("{message}");
    }
}

/// A warning on stderr (the run goes on).
pub fn warn(message: &str) {
    if json_logs() {
        emit("warn", "warning", serde_json::json!({ "message": message }));
    } else {
        eprintln!("warning: {message}");
    }
}

/// The error that ended the run, with the exit code it maps to.
pub fn error(message: &str, exit_code: u8) {
    if json_logs() {
        emit(
            "error",
            "error",
            serde_json::json!({ "message": message, "exit_code": exit_code }),
        );
    } else {
        eprintln!("error: {message}");
    }
}

/// The end of a command that ran to its end (JSON logs only: in text, the
/// summary on stdout says it).
pub fn run_end(command: &str, exit_code: u8, elapsed_s: f64) {
    if json_logs() {
        emit(
            "info",
            "run_end",
            serde_json::json!({ "command": command, "exit_code": exit_code, "elapsed_s": elapsed_s }),
        );
    }
}

/// Rows so far of each table in `tables`, as a JSON array.
fn table_rows_json(
    tables: &[Table],
    expected: &PerTable<Option<u64>>,
    counters: &Counters,
    secs: f64,
) -> serde_json::Value {
    tables
        .iter()
        .map(|t| {
            let rows = counters.rows[*t].load(Ordering::Relaxed);
            let rate = rows as f64 / secs.max(1e-3);
            let mut o = serde_json::json!({ "table": t.name(), "rows": rows, "rows_per_sec": rate.round() });
            if let Some(n) = expected[*t] {
                o["expected_rows"] = n.into();
                if rate > 0.0 {
                    o["eta_s"] = ((n.saturating_sub(rows)) as f64 / rate).round().into();
                }
            }
            o
        })
        .collect()
}

impl Progress {
    /// Shows the rows of `tables` as they are sent; `expected` gives totals where known.
    pub(crate) fn start(
        phase: &'static str,
        tables: &'static [Table],
        expected: PerTable<Option<u64>>,
        counters: Arc<Counters>,
        fancy: bool,
    ) -> Progress {
        let stop = Arc::new(tokio::sync::Notify::new());
        let stop2 = stop.clone();
        let counters2 = counters.clone();
        let task = tokio::spawn(async move {
            let counters = counters2;
            let started = Instant::now();
            if fancy {
                let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
                let bars: Vec<ProgressBar> = tables
                    .iter()
                    .map(|t| {
                        let (bar, style) = match expected[*t] {
                            Some(n) => (
                                ProgressBar::new(n),
                                "{prefix:>18} [{bar:30}] {human_pos}/{human_len} rows {rate:>14} ETA {eta}",
                            ),
                            None => (ProgressBar::no_length(), "{prefix:>18} {human_pos} rows {rate:>14}"),
                        };
                        let bar = mp.add(bar);
                        bar.set_style(
                            ProgressStyle::with_template(style)
                                .unwrap_or_else(|_| ProgressStyle::default_bar())
                                .with_key("rate", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                                    let _ = write!(w, "{} rows/s", group(s.per_sec() as u64));
                                })
                                .progress_chars("=> "),
                        );
                        bar.set_prefix(t.name());
                        bar
                    })
                    .collect();
                loop {
                    for (bar, t) in bars.iter().zip(tables) {
                        bar.set_position(counters.rows[*t].load(Ordering::Relaxed));
                    }
                    tokio::select! {
                        _ = stop2.notified() => break,
                        _ = tokio::time::sleep(Duration::from_millis(150)) => {}
                    }
                }
                for (bar, t) in bars.iter().zip(tables) {
                    bar.set_position(counters.rows[*t].load(Ordering::Relaxed));
                    bar.finish();
                }
            } else {
                loop {
                    tokio::select! {
                        _ = stop2.notified() => break,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    }
                    let secs = started.elapsed().as_secs_f64();
                    if json_logs() {
                        let tables = table_rows_json(tables, &expected, &counters, secs);
                        emit(
                            "info",
                            "progress",
                            serde_json::json!({ "phase": phase, "elapsed_s": secs, "tables": tables }),
                        );
                        continue;
                    }
                    let parts: Vec<String> = tables
                        .iter()
                        .map(|t| {
                            let rows = counters.rows[*t].load(Ordering::Relaxed);
                            let rate = rows as f64 / secs.max(1e-3);
                            match expected[*t] {
                                Some(n) if rate > 0.0 => format!(
                                    "{} {}/{} ({} rows/s, ETA {:.0}s)",
                                    t.name(),
                                    group(rows),
                                    group(n),
                                    group(rate as u64),
                                    (n.saturating_sub(rows)) as f64 / rate
                                ),
                                _ => format!(
                                    "{} {} ({} rows/s)",
                                    t.name(),
                                    group(rows),
                                    group(rate as u64)
                                ),
                            }
                        })
                        .collect();
                    eprintln!("[{secs:>7.1}s] {phase}: {}", parts.join("; "));
                }
            }
        });
        Progress {
            stop,
            task: Some(task),
            phase,
            tables,
            expected,
            counters,
            started: Instant::now(),
        }
    }

    /// Stops the display; with JSON logs, emits the phase's `phase_end` event.
    pub async fn finish(mut self) {
        self.stop.notify_one();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        if json_logs() {
            let secs = self.started.elapsed().as_secs_f64();
            let tables = table_rows_json(self.tables, &self.expected, &self.counters, secs);
            emit(
                "info",
                "phase_end",
                serde_json::json!({ "phase": self.phase, "elapsed_s": secs, "tables": tables }),
            );
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.notify_one();
    }
}

/// Progress of the post-load builds: a bar on a terminal, a line per slow or
/// final build otherwise.
pub(crate) struct Steps {
    bar: Option<ProgressBar>,
    total: usize,
    done: std::sync::atomic::AtomicUsize,
}

impl Steps {
    pub fn new(what: &str, total: usize, fancy: bool) -> Steps {
        let bar = fancy.then(|| {
            let b = ProgressBar::with_draw_target(
                Some(total as u64),
                ProgressDrawTarget::stderr_with_hz(8),
            );
            b.set_style(
                ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_prefix(what.to_string());
            b
        });
        Steps {
            bar,
            total,
            done: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// One step finished after `secs` seconds.
    pub fn finished(&self, name: &str, secs: f64) {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if json_logs() {
            emit(
                "info",
                "step_end",
                serde_json::json!({ "step": name, "elapsed_s": secs, "done": n, "total": self.total }),
            );
            return;
        }
        match &self.bar {
            Some(b) => {
                b.set_message(format!("{name} ({secs:.1}s)"));
                b.inc(1);
                if n == self.total {
                    b.finish();
                }
            }
            None if secs >= 1.0 || n == self.total => {
                eprintln!("[{n}/{}] {name}: {secs:.1}s", self.total)
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_events_carry_rows_rates_and_eta() {
        let counters = Counters::default();
        counters.rows[Table::Messages].store(250, Ordering::Relaxed);
        let mut expected = PerTable::default();
        expected[Table::Messages] = Some(1000);
        let v = table_rows_json(
            &[Table::Messages, Table::Attachments],
            &expected,
            &counters,
            2.0,
        );
        let m = &v[0];
        assert_eq!(m["table"], "messages");
        assert_eq!(m["rows"], 250);
        assert_eq!(m["rows_per_sec"], 125.0);
        assert_eq!(m["expected_rows"], 1000);
        assert_eq!(m["eta_s"], 6.0);
        // No total known: no expected rows, no ETA.
        assert_eq!(v[1]["rows"], 0);
        assert!(v[1].get("expected_rows").is_none() && v[1].get("eta_s").is_none());
    }
}
