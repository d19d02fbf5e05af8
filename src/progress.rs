//! Progress of long work: per-table bars (rows, rows/s, ETA) on a terminal,
//! plain periodic lines otherwise (CI logs, nightly jobs).

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::load::pipeline::Counters;
use crate::model::Table;
use crate::util::num::group;

pub struct Progress {
    stop: Arc<tokio::sync::Notify>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Whether to draw bars: stderr is a terminal and the user did not opt out.
pub fn fancy(opt_out: bool) -> bool {
    !opt_out && std::io::stderr().is_terminal()
}

impl Progress {
    /// Shows the rows of `tables` as they are sent; `expected` gives totals where known.
    pub fn start(
        phase: &'static str,
        tables: &'static [Table],
        expected: [Option<u64>; 7],
        counters: Arc<Counters>,
        fancy: bool,
    ) -> Progress {
        let stop = Arc::new(tokio::sync::Notify::new());
        let stop2 = stop.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            if fancy {
                let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
                let bars: Vec<ProgressBar> = tables
                    .iter()
                    .map(|t| {
                        let (bar, style) = match expected[t.index()] {
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
                        bar.set_position(counters.rows[t.index()].load(Ordering::Relaxed));
                    }
                    tokio::select! {
                        _ = stop2.notified() => break,
                        _ = tokio::time::sleep(Duration::from_millis(150)) => {}
                    }
                }
                for (bar, t) in bars.iter().zip(tables) {
                    bar.set_position(counters.rows[t.index()].load(Ordering::Relaxed));
                    bar.finish();
                }
            } else {
                loop {
                    tokio::select! {
                        _ = stop2.notified() => break,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    }
                    let secs = started.elapsed().as_secs_f64();
                    let parts: Vec<String> = tables
                        .iter()
                        .map(|t| {
                            let rows = counters.rows[t.index()].load(Ordering::Relaxed);
                            let rate = rows as f64 / secs.max(1e-3);
                            match expected[t.index()] {
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
        }
    }

    pub async fn finish(mut self) {
        self.stop.notify_one();
        if let Some(t) = self.task.take() {
            let _ = t.await;
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
pub struct Steps {
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
