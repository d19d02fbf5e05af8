//! Command-line types only (clap). `main.rs` turns these into validated
//! configurations once (`settings`); nothing below `settings` sees clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "chatsynth",
    version,
    about = "Generate production-shaped synthetic chat datasets and stream them into PostgreSQL through parallel binary COPY",
    long_about = None
)]
pub struct Cli {
    /// How stderr reports progress, phase ends and errors: text (human lines, or bars on a
    /// terminal) or json (one JSON object per line, no bars).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// Format of the lines chatsynth writes on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people: progress bars on a terminal, plain periodic lines otherwise.
    Text,
    /// One JSON object per line (`ts`, `level`, `event`, then the event's fields).
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a dataset and load it into PostgreSQL (parallel binary COPY), then build every index and constraint.
    Load(LoadArgs),
    /// Generate the same data as `load` into one PGCOPY binary file per table (or discard it, to time generation alone).
    Generate(GenerateArgs),
    /// Measure a loaded dataset's integrity and fidelity in the database and decide GO or NO-GO.
    Validate(ValidateArgs),
    /// Capture hot-path query plans, apply candidate indexes, and compare captures.
    Explain(ExplainArgs),
    /// Measure a database's shape (aggregates only, read-only) into a profile file, or compare two profiles.
    Profile(ProfileArgs),
    /// Replace a database's synthetic dataset with a new one, atomically (build beside, validate, swap).
    Refresh(RefreshArgs),
    /// Remove exactly the synthetic rows (users whose email starts with `syn_`, and what cascades from them).
    Clean(CleanArgs),
    /// Inspect the target schema: how a load fills each table and column, and every problem with its fix.
    Schema(SchemaArgs),
    /// Manage chatsynth's private PostgreSQL cluster (the default target when no database URL is given).
    Db(DbArgs),
    /// Print a shell completion script on stdout (e.g. `chatsynth completions bash > /etc/bash_completion.d/chatsynth`).
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout (`chatsynth man > chatsynth.1`), or write one page per command into a folder.
    Man(ManArgs),
}

/// Where a run's Prometheus metrics go.
#[derive(Debug, Args, Clone, Default)]
pub struct MetricsArgs {
    /// Write the run's metrics in the Prometheus text format to FILE (for node_exporter's
    /// textfile collector: name it *.prom), atomically, whatever the outcome. The folder
    /// must exist and be writable; this is checked before any work starts.
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write chatsynth.1 and one page per command (chatsynth-load.1, ...) into this existing
    /// folder instead of printing chatsynth.1 on stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Where to connect. Without `--database-url` and `DATABASE_URL`, chatsynth starts
/// (or reuses) its own private PostgreSQL cluster under `.chatsynth/` in the
/// current directory.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// PostgreSQL connection URL, e.g. postgres://user@host:5432/db?sslmode=require. Passwords are never printed.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Target schema holding the chat tables (created with the tables when missing).
    #[arg(long, default_value = "public")]
    pub schema: String,
    /// CA certificate (PEM) for sslmode=verify-ca / verify-full.
    #[arg(long, value_name = "FILE")]
    pub ssl_root_cert: Option<PathBuf>,
}

/// What to generate: a band preset, its overrides and the seed.
#[derive(Debug, Args, Clone)]
pub struct DatasetArgs {
    /// Size preset: tiny (tests), dev, staging or perf.
    #[arg(long, default_value = "dev")]
    pub band: String,
    /// Seed: the same seed and band give identical table contents.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// JSON or TOML file overriding the band's counts, window and shape targets, holding column
    /// rules (`[columns."table.column"]`) and declaring child tables to fill (`[tables.<name>]`)
    /// (keys: docs/config.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Fit the shape to a profile (from `chatsynth profile`): counts, time window, and the
    /// measured distributions replace the band's targets (docs/profile.md, "The fit").
    #[arg(long, value_name = "SHAPE.json")]
    pub profile: Option<PathBuf>,
    /// With --profile: F times the profile's counts, same shape (default 1). Explicit
    /// --users/--conversations/--messages override it.
    #[arg(
        long,
        value_name = "F",
        allow_negative_numbers = true,
        requires = "profile"
    )]
    pub scale: Option<f64>,
    /// Override the number of users.
    #[arg(long, allow_negative_numbers = true)]
    pub users: Option<i64>,
    /// Override the number of conversations.
    #[arg(long, allow_negative_numbers = true)]
    pub conversations: Option<i64>,
    /// Override the number of messages (exact).
    #[arg(long, allow_negative_numbers = true)]
    pub messages: Option<i64>,
    /// Generator tasks (threads). Does not change the data. Default: number of cores.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Anchor the time window's end at the current time instead of the fixed default instant
    /// (changes the data from run to run).
    #[arg(long)]
    pub window_end_now: bool,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Replace the rows already in the target tables (otherwise a non-empty target is refused).
    #[arg(long)]
    pub truncate: bool,
    /// Allow replacing tables that hold non-synthetic rows (users whose email does not start with `syn_`).
    #[arg(long)]
    pub allow_non_synthetic: bool,
    /// Continue the failed or killed run whose stage is left in the schema: units already
    /// committed are not generated again, built indexes are kept. Give the same dataset options
    /// (refused, exit 2, when the configuration differs or there is nothing to resume).
    #[arg(long, conflicts_with_all = ["prepare", "shard", "finish"])]
    pub resume: bool,
    /// Sharded load, step 1: run the preflight and create the stage once, print the run id
    /// (RUN_ID) on stdout and stop. Then `--shard i/n --run RUN_ID` per shard, then `--finish`.
    #[arg(long, conflicts_with_all = ["shard", "finish"])]
    pub prepare: bool,
    /// Sharded load, step 2: stream shard i of n (i = 0..n-1; unit u of every pass belongs to
    /// shard u % n) into the prepared stage of --run. Shards run as separate processes, on one
    /// machine or many, with the same dataset options; a killed shard is rerun alone and skips
    /// the units it committed.
    #[arg(long, value_name = "i/n", requires = "run", conflicts_with = "finish")]
    pub shard: Option<String>,
    /// Sharded load, step 3: once every shard is done, build the indexes and foreign keys, run
    /// ANALYZE and the checks, and swap (refused while a shard is missing or failed).
    #[arg(long, requires = "run")]
    pub finish: bool,
    /// The run id printed by `--prepare` (with --shard and --finish).
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Drop the stage of the sharded run RUN_ID (its shards' work is lost) and run anyway: a
    /// whole load or a `--prepare` is refused while a prepared run's stage is in the schema.
    /// Refused when no sharded run RUN_ID is in progress there.
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["resume", "shard", "finish"])]
    pub abandon_run: Option<String>,
    #[command(flatten)]
    pub tuning: TuningArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// How a load runs (none of these change the data).
#[derive(Debug, Args, Clone)]
pub struct TuningArgs {
    /// Parallel COPY streams for each large table (messages and receipts).
    #[arg(long, default_value_t = 2)]
    pub streams: usize,
    /// Chunk size sent to COPY, in KiB.
    #[arg(long, default_value_t = 256)]
    pub chunk_kib: usize,
    /// Capacity of each table's channel, in chunks (backpressure between generators and COPY streams).
    #[arg(long, default_value_t = 8)]
    pub channel_chunks: usize,
    /// Indexes built at once after the load, each on its own connection.
    #[arg(long, default_value_t = 2)]
    pub index_workers: usize,
    /// maintenance_work_mem for the index builds (a PostgreSQL size, e.g. 512MB).
    #[arg(long, default_value = "512MB")]
    pub maintenance_work_mem: String,
    /// Where to write the JSON report (default: reports/<band>-<seed>-<UTC time>.json).
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Do not show progress bars even on a terminal (plain periodic lines instead).
    #[arg(long)]
    pub no_progress: bool,
    /// Load even when the size estimate (heap, indexes, WAL) exceeds the free space of the
    /// private cluster's disk. The estimate is still printed and reported.
    #[arg(long)]
    pub no_space_check: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Directory for the PGCOPY files (one `<table>.pgcopy` per table).
    #[arg(long, value_name = "DIR", required_unless_present = "discard")]
    pub out: Option<PathBuf>,
    /// Generate and encode everything, write nothing: measures generation alone.
    #[arg(long)]
    pub discard: bool,
    /// Chunk size, in KiB.
    #[arg(long, default_value_t = 256)]
    pub chunk_kib: usize,
    /// Generate only shard i of n (i = 0..n-1): unit u of every pass belongs to shard u % n, the
    /// same slice as `load --shard i/n`. The shards' files together hold exactly the rows of one
    /// whole run: loading them all into one table gives the same table, and the reports'
    /// per-table fingerprints add up to the whole run's. Give every shard the same dataset options.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Where to write the JSON report (default: reports/generate-<band>-<seed>-<UTC time>.json).
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The load report whose recorded targets to check against (default: the band preset).
    #[arg(long, value_name = "LOAD_REPORT")]
    pub report: Option<PathBuf>,
    /// Band preset to check against when no load report is given.
    #[arg(long)]
    pub band: Option<String>,
    /// Relative tolerance for fidelity metrics.
    #[arg(long, default_value_t = 0.20)]
    pub tolerance: f64,
    /// Where to write the JSON result (default: reports/validate-<UTC time>.json, or
    /// reports/validate-against-<UTC time>.json with --against).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Also write a self-contained HTML report (charts of the dataset's shape against its
    /// targets and every check coloured GO / NO-GO) to FILE; its folder must exist and be writable.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// Compare the dataset's profile with this profile (e.g. production's, from `chatsynth
    /// profile`) metric by metric instead of checking a load plan; --tolerance must be in (0, 1].
    #[arg(long, value_name = "PROFILE", conflicts_with_all = ["report", "band", "html", "metrics_file"])]
    pub against: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Where to write the profile (JSON); with --compare, where to write the comparison
    /// (default reports/profile-compare-<UTC time>.json).
    #[arg(long, value_name = "PATH", required_unless_present = "compare")]
    pub out: Option<PathBuf>,
    /// Read this percent of the blocks of messages, attachments, message_reads and
    /// message_receipts (TABLESAMPLE SYSTEM). Default: all rows, or about 5M messages' worth
    /// when the planner estimates more than 5M messages.
    #[arg(long, value_name = "PCT")]
    pub sample: Option<f64>,
    /// Statement timeout for each profile query (e.g. 60s, 500ms, 5min).
    #[arg(long, default_value = "60s")]
    pub statement_timeout: String,
    /// k: the fewest rows any value of the profile may rest on; smaller buckets, cells,
    /// shares and quantile levels are suppressed and listed in the file.
    #[arg(long, default_value_t = 10)]
    pub min_bucket: u64,
    /// A config file declaring child tables (`[tables.<name>]`): each is measured too, as
    /// its rows per parent (all rows, not sampled). Not with --compare.
    #[arg(long, value_name = "FILE", conflicts_with = "compare")]
    pub config: Option<PathBuf>,
    /// Also write a self-contained HTML page of the profile (its charts and summary table)
    /// to FILE; its folder must exist and be writable. Not with --compare.
    #[arg(long, value_name = "FILE", conflicts_with = "compare")]
    pub html: Option<PathBuf>,
    /// Compare two profiles (no database) and decide GO / NO-GO: exit 0 GO, 1 NO-GO, 2 error.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"])]
    pub compare: Option<Vec<PathBuf>>,
    /// Largest distance allowed for each metric with --compare, in (0, 1].
    #[arg(long, default_value_t = 0.20)]
    pub tolerance: f64,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// EXPLAIN ANALYZE runs per query and parameter case (after a warm-up).
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Where to write the JSON: capture (default reports/explain-<UTC time>.json), index report
    /// (reports/explain-indexes-<UTC time>.json) or comparison (reports/explain-compare-<UTC time>.json).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Reuse the parameters stored in this earlier capture, so captures are comparable.
    #[arg(long, value_name = "BASELINE")]
    pub params_from: Option<PathBuf>,
    /// Build a set of candidate indexes (CREATE INDEX CONCURRENTLY) and ANALYZE, instead of capturing.
    #[arg(long, value_name = "SET")]
    pub apply_indexes: Option<String>,
    /// Compare two captures and decide GO / NO-GO, instead of capturing.
    #[arg(long, num_args = 2, value_names = ["BEFORE", "AFTER"])]
    pub compare: Option<Vec<PathBuf>>,
    /// With --compare: also write a self-contained HTML report (p50/p95 latency before and
    /// after, the plan nodes that changed, the rules) to FILE; its folder must exist and be writable.
    #[arg(long, value_name = "FILE", requires = "compare")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Allow replacing tables that hold non-synthetic rows (users whose email does not start with `syn_`).
    #[arg(long)]
    pub allow_non_synthetic: bool,
    /// Continue the failed or killed run whose stage is left in the schema: units already
    /// committed are not generated again, built indexes are kept. Give the same dataset options
    /// (refused, exit 2, when the configuration differs or there is nothing to resume).
    #[arg(long)]
    pub resume: bool,
    /// Drop the stage of the sharded run RUN_ID (its shards' work is lost) and refresh anyway:
    /// refused while a prepared run's stage is in the schema. Refused when no sharded run
    /// RUN_ID is in progress there.
    #[arg(long, value_name = "RUN_ID", conflicts_with = "resume")]
    pub abandon_run: Option<String>,
    #[command(flatten)]
    pub tuning: TuningArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The config file of the loads: its child tables (`[tables.<name>]`) lose their synthetic
    /// rows too (rows off a synthetic parent or by a synthetic user).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Drop the stage of the sharded run RUN_ID (its shards' work is lost) and clean anyway:
    /// refused while a prepared run's stage (`load --prepare`) is in the schema, and when no
    /// sharded run RUN_ID is in progress there.
    #[arg(long, value_name = "RUN_ID")]
    pub abandon_run: Option<String>,
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub action: DbAction,
}

#[derive(Debug, Subcommand)]
pub enum DbAction {
    /// Start (or reuse) the private cluster and print how to connect.
    Start,
    /// Stop the private cluster.
    Stop,
    /// Print the private cluster's connection URL and state.
    Status,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[command(subcommand)]
    pub action: SchemaAction,
}

#[derive(Debug, Subcommand)]
pub enum SchemaAction {
    /// Read the target's catalog and print, per table and column, how a load fills it (built-in
    /// generator, default, identity, NULL); list every problem with the SQL that fixes it.
    /// Exit 0: no problem; 1: problems; 2: could not check.
    Check(SchemaCheckArgs),
}

#[derive(Debug, Args)]
pub struct SchemaCheckArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The config file a load would use (read and validated; column rules are not implemented yet).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}
