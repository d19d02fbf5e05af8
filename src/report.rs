//! The versioned JSON report of a run (load, generate, refresh) and the
//! summary table printed on the terminal. The report echoes the whole
//! configuration, so any dataset can be rebuilt exactly from it; it never
//! holds a password (the target is recorded in its redacted form).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{DatasetConfig, PipelineConfig, RealisedTargets};
use crate::db::SessionSettings;
use crate::error::{Error, Result};
use crate::model::{Command, Outcome};
use crate::util::calendar;
use crate::util::fingerprint::Fingerprint;
use crate::util::num::{group, per_sec};

pub(crate) const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableReport {
    pub table: String,
    pub rows: u64,
    pub bytes: u64,
    pub elapsed_ms: f64,
    pub rows_per_sec: f64,
    pub mb_per_sec: f64,
    pub streams: usize,
    pub chunks: u64,
    /// Time to hand one chunk to the connection (socket backpressure included).
    pub chunk_send_latency_us: Percentiles,
    /// Summed over streams: time the COPY streams waited for generators.
    pub streams_waiting_for_generators_ms: f64,
    /// Longest wait for the server's acknowledgement of a finished COPY.
    pub server_ack_ms: f64,
    /// The rows this table received, summed per unit of work: independent
    /// of the order of units, and [`Fingerprint::combine`]s across shards.
    /// Equal for `generate` and `load` of the same config.
    #[serde(default)]
    pub fingerprint: Fingerprint,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GeneratorReport {
    pub workers: usize,
    /// Summed over generator threads: generating and encoding rows.
    pub generating_ms: f64,
    /// Summed over generator threads: blocked on a full channel (the sink was slower).
    pub blocked_on_channel_ms: f64,
    pub units: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseReport {
    pub phase: String,
    pub elapsed_ms: f64,
    pub generator: GeneratorReport,
    pub tables: Vec<TableReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    pub step: String,
    pub elapsed_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl StepReport {
    /// A step that started at `started` and has just ended.
    pub(crate) fn since(
        step: impl Into<String>,
        started: std::time::Instant,
        detail: Option<String>,
    ) -> StepReport {
        StepReport {
            step: step.into(),
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
            detail,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Totals {
    pub rows: u64,
    pub bytes: u64,
    pub elapsed_ms: f64,
    pub load_phases_ms: f64,
    pub post_load_ms: f64,
    pub rows_per_sec: f64,
    pub mb_per_sec: f64,
    pub messages_rows_per_sec: f64,
}

/// The preflight's estimate of what the load puts on the server's disk
/// (`load::size`), and what it was compared with.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SizeEstimate {
    /// Table data, TOAST and maps, from per-row averages.
    pub heap_bytes: u64,
    pub index_bytes: u64,
    /// WAL the load writes (heap, plus the index builds above `wal_level = minimal`).
    pub wal_bytes: u64,
    /// Heap + indexes + the WAL kept at once (at most `max_wal_size`).
    pub needed_on_disk_bytes: u64,
    /// Private cluster: free space on its data directory's file system.
    pub free_bytes: Option<u64>,
    /// Any other server: `pg_database_size` before the load.
    pub database_bytes: Option<u64>,
    /// The estimate was compared with `free_bytes` (not with `--no-space-check`).
    pub checked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `user@host:port/db`, never the password.
    pub database: String,
    pub schema: String,
    pub server_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub format_version: u32,
    pub tool: String,
    pub tool_version: String,
    pub command: Command,
    pub band: String,
    pub seed: u64,
    /// The ledger's run id (`chatsynth_runs.run_id`), once the run was recorded.
    pub run_id: Option<String>,
    pub dataset: DatasetConfig,
    pub realised_targets: RealisedTargets,
    pub pipeline: PipelineConfig,
    pub target: Option<TargetInfo>,
    /// The session settings the target carried and the ones chatsynth's
    /// sessions set instead (`db::SESSION_SETTINGS`).
    #[serde(default)]
    pub session_settings: Option<SessionSettings>,
    /// The preflight's size estimate (load and refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_estimate: Option<SizeEstimate>,
    pub started_at: String,
    pub finished_at: String,
    /// Order-of-work choices this run made (deferred indexes, session settings...).
    pub choices: Vec<String>,
    /// Building the plan and the value pools, before any connection.
    pub plan_ms: f64,
    pub phases: Vec<PhaseReport>,
    /// Steps after the load phases (aggregates; they add up to `totals.post_load_ms`).
    pub post_load: Vec<StepReport>,
    /// Each index and foreign-key build, slowest first (inside the aggregates above).
    pub builds: Vec<StepReport>,
    pub totals: Totals,
    pub peak_rss_mb: f64,
    /// `completed`, `failed` or `interrupted`.
    pub outcome: Outcome,
    pub error: Option<String>,
    /// Set when this run resumed a failed or killed one (`--resume`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed: Option<ResumeReport>,
}

/// What a resumed run found already committed in the stage and skipped.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResumeReport {
    /// The run continued (the ledger's run id, kept).
    pub run_id: String,
    /// Per table: rows already committed by the earlier attempt, not generated again.
    pub skipped_rows: std::collections::BTreeMap<String, u64>,
    /// Per table: units already committed.
    pub skipped_units: std::collections::BTreeMap<String, u64>,
    /// Indexes and constraints found already built in the stage.
    pub skipped_builds: u64,
}

impl RunReport {
    pub fn new(
        command: Command,
        dataset: &DatasetConfig,
        realised: RealisedTargets,
        pipeline: PipelineConfig,
    ) -> RunReport {
        RunReport {
            format_version: FORMAT_VERSION,
            tool: "chatsynth".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            command,
            band: dataset.band.name().into(),
            seed: dataset.seed,
            run_id: None,
            dataset: dataset.clone(),
            realised_targets: realised,
            pipeline,
            target: None,
            session_settings: None,
            size_estimate: None,
            started_at: calendar::iso8601(calendar::now_ms()),
            finished_at: String::new(),
            choices: Vec::new(),
            plan_ms: 0.0,
            phases: Vec::new(),
            post_load: Vec::new(),
            builds: Vec::new(),
            totals: Totals::default(),
            peak_rss_mb: 0.0,
            outcome: Outcome::Running,
            error: None,
            resumed: None,
        }
    }

    /// Fills totals and the outcome.
    pub fn finish(&mut self, elapsed_ms: f64, error: Option<&Error>) {
        self.finished_at = calendar::iso8601(calendar::now_ms());
        let rows: u64 = self
            .phases
            .iter()
            .flat_map(|p| &p.tables)
            .map(|t| t.rows)
            .sum();
        let bytes: u64 = self
            .phases
            .iter()
            .flat_map(|p| &p.tables)
            .map(|t| t.bytes)
            .sum();
        let load_ms: f64 = self.phases.iter().map(|p| p.elapsed_ms).sum::<f64>() + 0.0;
        let post_ms: f64 = self.post_load.iter().map(|s| s.elapsed_ms).sum::<f64>() + 0.0;
        let messages = self
            .phases
            .iter()
            .flat_map(|p| &p.tables)
            .find(|t| t.table == "messages");
        self.totals = Totals {
            rows,
            bytes,
            elapsed_ms,
            load_phases_ms: load_ms,
            post_load_ms: post_ms,
            rows_per_sec: per_sec(rows as f64, elapsed_ms),
            mb_per_sec: per_sec(bytes as f64 / 1e6, elapsed_ms),
            messages_rows_per_sec: messages.map_or(0.0, |m| m.rows_per_sec),
        };
        self.peak_rss_mb = peak_rss_mb();
        self.outcome = Outcome::of(error);
        self.error = error.map(|e| e.to_string());
    }

    /// Ends a run: totals and outcome, then the report is written whatever the
    /// outcome (a refused or failed run's report says why). The run's error
    /// comes first; a report that cannot be written is the error otherwise.
    pub(crate) fn conclude(
        mut self,
        started: std::time::Instant,
        result: Result<()>,
        path: PathBuf,
    ) -> Result<(RunReport, PathBuf)> {
        self.finish(
            started.elapsed().as_secs_f64() * 1000.0,
            result.as_ref().err(),
        );
        let written = self.write(&path);
        result?;
        written?;
        Ok((self, path))
    }

    pub(crate) fn default_path(&self) -> PathBuf {
        let prefix = match self.command {
            Command::Load => String::new(),
            other => format!("{}-", other.as_str()),
        };
        PathBuf::from("reports").join(format!(
            "{prefix}{}-{}-{}.json",
            self.band,
            self.seed,
            calendar::compact(calendar::now_ms())
        ))
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }

    /// The terminal summary: one line per table, then totals and post-load steps.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "{:<18} {:>12} {:>9} {:>8} {:>12} {:>8} {:>7} {:>9} {:>9}\n",
            "table", "rows", "MB", "s", "rows/s", "MB/s", "streams", "send p50", "send p99"
        ));
        for t in self.phases.iter().flat_map(|p| &p.tables) {
            s.push_str(&format!(
                "{:<18} {:>12} {:>9.1} {:>8.2} {:>12} {:>8.1} {:>7} {:>7}us {:>7}us\n",
                t.table,
                group(t.rows),
                t.bytes as f64 / 1e6,
                t.elapsed_ms / 1000.0,
                group(t.rows_per_sec as u64),
                t.mb_per_sec,
                t.streams,
                t.chunk_send_latency_us.p50,
                t.chunk_send_latency_us.p99
            ));
        }
        for p in &self.phases {
            s.push_str(&format!(
                "phase {:<16} {:>8.2}s  generators: {:.2}s generating, {:.2}s blocked on full channels ({} threads)\n",
                p.phase,
                p.elapsed_ms / 1000.0,
                p.generator.generating_ms / 1000.0,
                p.generator.blocked_on_channel_ms / 1000.0,
                p.generator.workers
            ));
        }
        for st in &self.post_load {
            s.push_str(&format!(
                "{:<48} {:>8.2}s\n",
                st.step,
                st.elapsed_ms / 1000.0
            ));
        }
        let mut slow: Vec<&StepReport> = self.builds.iter().collect();
        slow.sort_by(|a, b| b.elapsed_ms.total_cmp(&a.elapsed_ms));
        for st in slow.iter().take(3) {
            s.push_str(&format!(
                "  slowest: {:<39} {:>8.2}s\n",
                st.step,
                st.elapsed_ms / 1000.0
            ));
        }
        s.push_str(&format!(
            "total: {} rows, {:.1} MB in {:.2}s ({} rows/s); messages {} rows/s; post-load {:.2}s; peak RSS {:.0} MB; {}\n",
            group(self.totals.rows),
            self.totals.bytes as f64 / 1e6,
            self.totals.elapsed_ms / 1000.0,
            group(self.totals.rows_per_sec as u64),
            group(self.totals.messages_rows_per_sec as u64),
            self.totals.post_load_ms / 1000.0,
            self.peak_rss_mb,
            self.outcome.as_str()
        ));
        s
    }
}

/// Writes a JSON file (pretty, atomically: see [`crate::util::json`]); the
/// error names the file. Reports, explain's captures and comparisons use it.
pub(crate) fn write_json<T: Serialize + ?Sized>(path: &Path, v: &T) -> Result<()> {
    crate::util::json::write_atomic(path, v)
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

/// Peak resident set size of this process, in MB.
pub fn peak_rss_mb() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own; RUSAGE_SELF is valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc == 0 {
        ru.ru_maxrss as f64 / 1024.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_measured() {
        assert!(peak_rss_mb() > 0.0);
    }
}
