//! Turns parsed command-line arguments into validated configurations, once.
//! Everything downstream takes `DatasetConfig`, `PipelineConfig`,
//! `LoadOptions`, `GenerateOptions`, `ValidateOptions` or `ExplainOptions`;
//! nothing below this module sees clap types.

use crate::cli::{
    DatasetArgs, ExplainArgs, GenerateArgs, LoadArgs, ProfileArgs, RefreshArgs, TuningArgs,
    ValidateArgs,
};
use crate::config::{self, default_workers, positive_count, Band, DatasetConfig, PipelineConfig};
use crate::db::Target;
use crate::error::{Error, Result};
use crate::explain::{ExplainMode, ExplainOptions};
use crate::generate::GenerateOptions;
use crate::load::{LoadOptions, Mode};
use crate::model::Command;
use crate::validate::targets::Targets;
use crate::validate::ValidateOptions;

/// Band preset, then the config file, then flags; validated as a whole.
/// The child tables declared in a config file (none without one), validated.
pub fn declared_tables(
    path: Option<&std::path::Path>,
) -> Result<std::collections::BTreeMap<String, config::ChildTable>> {
    let Some(path) = path else {
        return Ok(Default::default());
    };
    let cfg = config::merge_file(&config::Band::Dev.preset(), path)?;
    cfg.validate()?;
    Ok(cfg.tables)
}

pub fn dataset(a: &DatasetArgs) -> Result<DatasetConfig> {
    let band = Band::parse(&a.band)?;
    let mut cfg = band.preset();
    let mut fitted = None;
    if let Some(path) = &a.profile {
        let scale = a.scale.unwrap_or(1.0);
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Error::Config(format!(
                "--scale must be a number above 0 (got {scale})"
            )));
        }
        let profile = crate::profile::format::read(path)?;
        cfg = crate::profile::fit::fit(&profile, scale, &cfg)?;
        fitted = Some(profile);
    }
    if let Some(path) = &a.config {
        cfg = config::merge_file(&cfg, path)?;
    }
    // The fit does not set a declared table's rate: it echoes what the
    // profile measured beside what the config declares.
    if let Some(p) = &fitted {
        for line in crate::profile::fit::child_table_echo(p, &cfg.tables) {
            crate::progress::note(&line);
        }
    }
    cfg.band = band;
    cfg.seed = a.seed;
    if let Some(v) = a.users {
        cfg.counts.users = positive_count("users", v)?;
    }
    if let Some(v) = a.conversations {
        cfg.counts.conversations = positive_count("conversations", v)?;
    }
    if let Some(v) = a.messages {
        cfg.counts.messages = positive_count("messages", v)?;
    }
    if a.window_end_now {
        cfg.window.end_ms = crate::util::calendar::now_ms();
    }
    cfg.validate()?;
    Ok(cfg)
}

pub(crate) fn pipeline(
    a: &DatasetArgs,
    streams: usize,
    chunk_kib: usize,
    channel_chunks: usize,
) -> Result<PipelineConfig> {
    let p = PipelineConfig {
        workers: a.workers.unwrap_or_else(default_workers),
        streams_per_large_table: streams,
        chunk_bytes: chunk_kib.saturating_mul(1024),
        channel_chunks,
    };
    p.validate()?;
    Ok(p)
}

pub fn load(a: &LoadArgs, target: Target) -> Result<LoadOptions> {
    let mut o = load_options(
        &a.dataset,
        &a.tuning,
        target,
        Command::Load,
        a.truncate,
        a.allow_non_synthetic,
        load_mode(a)?,
    )?;
    o.abandon_run = a.abandon_run.clone();
    Ok(o)
}

/// Which of load's runs: whole, resume, or a step of a sharded load.
pub fn load_mode(a: &LoadArgs) -> Result<Mode> {
    if let Some(run) = &a.run {
        if run.is_empty() || !run.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(crate::Error::Config(format!(
                "--run must be a run id printed by `load --prepare` (got {run:?})"
            )));
        }
    }
    Ok(match (&a.shard, a.finish, a.prepare, a.resume) {
        (Some(s), ..) => {
            let (index, count) = parse_shard(s)?;
            Mode::Shard {
                index,
                count,
                run: a.run.clone().unwrap_or_default(),
            }
        }
        (None, true, ..) => Mode::Finish {
            run: a.run.clone().unwrap_or_default(),
        },
        (None, false, true, _) => Mode::Prepare,
        (None, false, false, true) => Mode::Resume,
        _ if a.run.is_some() => {
            return Err(crate::Error::Config(
                "--run goes with --shard or --finish".into(),
            ))
        }
        _ => Mode::Whole,
    })
}

/// `i/n` with n >= 1 and 0 <= i < n.
pub fn parse_shard(s: &str) -> Result<(u32, u32)> {
    let bad = || {
        crate::Error::Config(format!(
            "--shard must be i/n with 0 <= i < n, e.g. 0/3 (got {s:?})"
        ))
    };
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u32, u32) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n || n > 10_000 {
        return Err(bad());
    }
    Ok((i, n))
}

/// A refresh is a load that replaces the live dataset, validated before the swap.
pub fn refresh(a: &RefreshArgs, target: Target) -> Result<LoadOptions> {
    let mut o = load_options(
        &a.dataset,
        &a.tuning,
        target,
        Command::Refresh,
        true,
        a.allow_non_synthetic,
        if a.resume { Mode::Resume } else { Mode::Whole },
    )?;
    o.abandon_run = a.abandon_run.clone();
    Ok(o)
}

fn load_options(
    d: &DatasetArgs,
    t: &TuningArgs,
    target: Target,
    command: Command,
    truncate: bool,
    allow_non_synthetic: bool,
    mode: Mode,
) -> Result<LoadOptions> {
    if t.index_workers == 0 || t.index_workers > 32 {
        return Err(crate::Error::Config(format!(
            "--index-workers must be 1..=32 (got {})",
            t.index_workers
        )));
    }
    Ok(LoadOptions {
        dataset: dataset(d)?,
        pipeline: pipeline(d, t.streams, t.chunk_kib, t.channel_chunks)?,
        target,
        truncate,
        allow_non_synthetic,
        report_path: t.report.clone(),
        fancy_progress: crate::progress::fancy(t.no_progress),
        index_workers: t.index_workers,
        maintenance_work_mem: t.maintenance_work_mem.clone(),
        command,
        mode,
        abandon_run: None,
        // Set by the caller that started the private cluster.
        private_data_dir: None,
        no_space_check: t.no_space_check,
    })
}

pub fn generate(a: &GenerateArgs) -> Result<GenerateOptions> {
    Ok(GenerateOptions {
        dataset: dataset(&a.dataset)?,
        pipeline: pipeline(&a.dataset, 1, a.chunk_kib, 16)?,
        out_dir: if a.discard { None } else { a.out.clone() },
        report_path: a.report.clone(),
        shard: a.shard.as_deref().map(parse_shard).transpose()?,
    })
}

/// The validated options of `chatsynth profile` (no database needed).
pub fn profile(args: &ProfileArgs) -> Result<crate::profile::measure::Options> {
    crate::profile::check_tolerance(args.tolerance)?;
    if let Some(p) = args.sample {
        if !(p > 0.0 && p <= 100.0) {
            return Err(Error::Config(format!(
                "--sample must be a percent above 0 and at most 100 (got {p})"
            )));
        }
    }
    if args.min_bucket < 1 {
        return Err(Error::Config("--min-bucket must be at least 1".into()));
    }
    Ok(crate::profile::measure::Options {
        sample_percent: args.sample,
        statement_timeout: crate::profile::measure::parse_timeout(&args.statement_timeout)?,
        min_bucket: args.min_bucket,
        child_tables: declared_tables(args.config.as_deref())?,
    })
}

/// The tolerance is a relative one in (0, 10]; a load report and a band must agree.
pub fn validate(a: &ValidateArgs) -> Result<ValidateOptions> {
    if !(a.tolerance > 0.0 && a.tolerance <= 10.0) {
        return Err(Error::Config(format!(
            "--tolerance must be a relative tolerance above 0 and at most 10 (got {})",
            a.tolerance
        )));
    }
    let from_report = a.report.as_deref().map(Targets::from_report).transpose()?;
    let band = a.band.as_deref().map(Band::parse).transpose()?;
    if let (Some(t), Some(b)) = (&from_report, band) {
        if t.dataset.band != b {
            return Err(Error::Config(format!(
                "--band {} contradicts the load report, which is a {} load",
                b.name(),
                t.dataset.band.name()
            )));
        }
    }
    Ok(ValidateOptions {
        from_report,
        band,
        tolerance: a.tolerance,
        out: a.out.clone(),
        html: a.html.clone(),
    })
}

/// One of explain's three modes, with the flags that belong to it.
pub fn explain(a: &ExplainArgs) -> Result<ExplainOptions> {
    let mode = if let Some(files) = &a.compare {
        if a.apply_indexes.is_some() || a.params_from.is_some() {
            return Err(Error::Config(
                "--compare cannot be combined with --apply-indexes or --params-from".into(),
            ));
        }
        let [before, after] = files.as_slice() else {
            return Err(Error::Config(
                "--compare takes two files: BEFORE AFTER".into(),
            ));
        };
        ExplainMode::Compare {
            before: before.clone(),
            after: after.clone(),
        }
    } else if let Some(set) = &a.apply_indexes {
        if a.params_from.is_some() {
            return Err(Error::Config(
                "--apply-indexes cannot be combined with --params-from".into(),
            ));
        }
        ExplainMode::ApplyIndexes { set: set.clone() }
    } else {
        if a.runs == 0 {
            return Err(Error::Config("--runs must be at least 1".into()));
        }
        ExplainMode::Capture {
            runs: a.runs,
            params_from: a.params_from.clone(),
        }
    };
    Ok(ExplainOptions {
        mode,
        out: a.out.clone(),
        html: a.html.clone(),
    })
}
