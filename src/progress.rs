//! Progress of long work: per-table bars (rows, rows/s, ETA) on a terminal,
//! plain periodic lines otherwise (CI logs, nightly jobs).

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::load::pipeline::Counters;
use crate::model::Table;
use crate::report::group;

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
                                "{prefix:>18} [{bar:30}] {human_pos}/{human_len} rows {per_sec:>14} ETA {eta}",
                            ),
                            None => (ProgressBar::no_length(), "{prefix:>18} {human_pos} rows {per_sec:>14}"),
                        };
                        let bar = mp.add(bar);
                        bar.set_style(
                            ProgressStyle::with_template(style)
                                .unwrap_or_else(|_| ProgressStyle::default_bar())
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
