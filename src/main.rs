//! The `chatsynth` binary: parse arguments, build validated configuration, run,
//! and turn any error into one clear message and an exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{CommandFactory, Parser};

use chatsynth::cli::{Cli, Command, DbAction, LogFormat, SchemaAction, TargetArgs};
use chatsynth::db::Target;
use chatsynth::{
    clean, embedded, explain, generate, load, metrics, profile, progress, refresh, schema_check,
    settings, validate, Error, Result,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    progress::set_json_logs(cli.log_format == LogFormat::Json);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            progress::error(&format!("cannot start the async runtime: {e}"), 2);
            return ExitCode::from(2);
        }
    };
    let (name, started) = (command_name(&cli.command), Instant::now());
    match rt.block_on(run(cli)) {
        Ok(code) => {
            progress::run_end(name, code, started.elapsed().as_secs_f64());
            ExitCode::from(code)
        }
        Err(e) => {
            progress::error(&e.to_string(), e.exit_code());
            ExitCode::from(e.exit_code())
        }
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Load(_) => "load",
        Command::Generate(_) => "generate",
        Command::Validate(_) => "validate",
        Command::Explain(_) => "explain",
        Command::Profile(_) => "profile",
        Command::Refresh(_) => "refresh",
        Command::Clean(_) => "clean",
        Command::Db(_) => "db",
        Command::Schema(_) => "schema",
        Command::Completions(_) => "completions",
        Command::Man(_) => "man",
    }
}

/// Checks an output file given with `flag` before any work starts: a path
/// that cannot be written is bad input (exit 2), one sentence.
fn check_output(flag: &str, path: &std::path::Path) -> Result<()> {
    chatsynth::util::json::check_writable(path)
        .map_err(|why| chatsynth::Error::Config(format!("{flag} {}: {why}", path.display())))
}

/// A command's `--metrics-file`: its folder is checked before any work starts
/// (exit 2), and the file is written when the command ends, whatever the outcome.
struct MetricsOut {
    command: &'static str,
    path: Option<PathBuf>,
    started: Instant,
}

impl MetricsOut {
    fn new(command: &'static str, path: &Option<PathBuf>) -> Result<MetricsOut> {
        if let Some(p) = path {
            check_output("--metrics-file", p)?;
        }
        Ok(MetricsOut {
            command,
            path: path.clone(),
            started: Instant::now(),
        })
    }

    /// Writes the metrics of `result` (rendered by `render`, or the failure) and
    /// passes the result on; the run's own error comes first.
    fn finish<T>(
        self,
        result: Result<T>,
        render: impl FnOnce(&T, Option<f64>) -> String,
    ) -> Result<T> {
        let elapsed_s = self.started.elapsed().as_secs_f64();
        let written = match (&self.path, &result) {
            (None, _) => Ok(()),
            (Some(p), Ok(v)) => {
                metrics::write_atomic(p, &render(v, metrics::previous_success(p, self.command)))
            }
            (Some(p), Err(e)) => {
                let prev = metrics::previous_success(p, self.command);
                metrics::write_atomic(
                    p,
                    &metrics::render_failure(self.command, e, elapsed_s, prev),
                )
            }
        };
        match (result, written) {
            (Err(e), Err(w)) => {
                progress::warn(&w.to_string());
                Err(e)
            }
            (Err(e), Ok(())) => Err(e),
            (Ok(_), Err(w)) => Err(w),
            (Ok(v), Ok(())) => Ok(v),
        }
    }
}

/// Resolves where to connect: `--database-url` / `DATABASE_URL`, else the private cluster.
async fn resolve_target(t: &TargetArgs) -> Result<Target> {
    chatsynth::db::check_schema_name(&t.schema)?;
    let url = match &t.database_url {
        Some(u) if !u.trim().is_empty() => u.clone(),
        _ => embedded::ensure_running().await?,
    };
    Target::from_url(&url, &t.schema, t.ssl_root_cert.as_deref())
}

/// [`resolve_target`] for `load` and `refresh`, which also need the private
/// cluster's data directory when that is the target (the size preflight
/// compares with its disk's free space).
async fn resolve_load_target(t: &TargetArgs) -> Result<(Target, Option<std::path::PathBuf>)> {
    let private = t.database_url.as_ref().is_none_or(|u| u.trim().is_empty());
    let target = resolve_target(t).await?;
    let dir = if private {
        Some(embedded::data_dir()?)
    } else {
        None
    };
    Ok((target, dir))
}

async fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Validate(args) => {
            if let Some(against) = &args.against {
                let reference = profile::load_reference(against, args.tolerance)?;
                let target = resolve_target(&args.target).await?;
                return profile::validate_against(
                    &target,
                    &reference,
                    against,
                    args.tolerance,
                    args.out.as_deref(),
                )
                .await;
            }
            if let Some(html) = &args.html {
                check_output("--html", html)?;
            }
            let m = MetricsOut::new("validate", &args.metrics.metrics_file)?;
            let gate = async {
                let opts = settings::validate(&args)?;
                let target = resolve_target(&args.target).await?;
                validate::run(&target, &opts).await
            }
            .await;
            Ok(m.finish(gate, metrics::render_validate)?.exit_code())
        }
        Command::Explain(args) => {
            if let Some(html) = &args.html {
                check_output("--html", html)?;
            }
            let opts = settings::explain(&args)?;
            let target = match opts.mode {
                explain::ExplainMode::Compare { .. } => None,
                _ => Some(resolve_target(&args.target).await?),
            };
            explain::run(target.as_ref(), &opts).await
        }
        Command::Profile(args) => {
            if let Some(html) = &args.html {
                check_output("--html", html)?;
            }
            let opts = settings::profile(&args)?;
            match (&args.compare, &args.out) {
                (Some(files), out) => {
                    profile::compare_files(&files[0], &files[1], args.tolerance, out.as_deref())
                }
                (None, Some(out)) => {
                    let target = resolve_target(&args.target).await?;
                    profile::run(&target, &opts, out, args.html.as_deref()).await
                }
                (None, None) => Err(chatsynth::Error::Config(
                    "profile needs --out FILE (or --compare OLD NEW)".into(),
                )),
            }
        }
        Command::Db(db) => {
            match db.action {
                DbAction::Start => {
                    let url = embedded::ensure_running().await?;
                    println!("{url}");
                }
                DbAction::Stop => embedded::stop().await?,
                DbAction::Status => embedded::status().await?,
            }
            Ok(0)
        }
        Command::Load(args) => {
            let m = MetricsOut::new("load", &args.metrics.metrics_file)?;
            let done = async {
                // Validate the arguments before starting anything (even the private cluster).
                settings::dataset(&args.dataset)?;
                settings::load_mode(&args)?;
                let (target, private_data_dir) = resolve_load_target(&args.target).await?;
                let mut opts = settings::load(&args, target)?;
                opts.private_data_dir = private_data_dir;
                load::run(&opts, None).await
            }
            .await;
            let (report, path) = m.finish(done, |(r, _), prev| metrics::render_run(r, prev))?;
            if args.prepare {
                // stdout carries the run id alone, for scripts: RUN=$(chatsynth load --prepare ...).
                eprint!("{}", report.summary());
                eprintln!("report: {}", path.display());
                println!("{}", report.run_id.unwrap_or_default());
            } else {
                print!("{}", report.summary());
                println!("report: {}", path.display());
            }
            Ok(0)
        }
        Command::Generate(args) => {
            let opts = settings::generate(&args)?;
            let (report, path) = generate::run(&opts).await?;
            print!("{}", report.summary());
            println!("report: {}", path.display());
            Ok(0)
        }
        Command::Refresh(args) => {
            let m = MetricsOut::new("refresh", &args.metrics.metrics_file)?;
            let done = async {
                settings::dataset(&args.dataset)?;
                let (target, private_data_dir) = resolve_load_target(&args.target).await?;
                let mut opts = settings::refresh(&args, target)?;
                opts.private_data_dir = private_data_dir;
                refresh::run(&opts).await
            }
            .await;
            let (report, path) = m.finish(done, |(r, _), prev| metrics::render_run(r, prev))?;
            print!("{}", report.summary());
            println!("report: {}", path.display());
            Ok(0)
        }
        Command::Schema(s) => match s.action {
            // Exit 1 means "problems found", so any failure to check is 2.
            SchemaAction::Check(args) => {
                let checked = async {
                    let target = resolve_target(&args.target).await?;
                    schema_check::run(&target, args.config.as_deref()).await
                };
                match checked.await {
                    Ok(code) => Ok(code),
                    Err(e) => {
                        progress::error(&e.to_string(), 2);
                        Ok(2)
                    }
                }
            }
        },
        Command::Clean(args) => {
            let m = MetricsOut::new("clean", &args.metrics.metrics_file)?;
            let done = async {
                let declared = settings::declared_tables(args.config.as_deref())?;
                let target = resolve_target(&args.target).await?;
                clean::run(&target, &declared, args.abandon_run.as_deref()).await
            }
            .await;
            m.finish(done, metrics::render_clean)?;
            Ok(0)
        }
        Command::Completions(args) => {
            let mut cmd = Cli::command();
            clap_complete::generate(args.shell, &mut cmd, "chatsynth", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man(args) => {
            let cmd = Cli::command();
            match &args.dir {
                Some(dir) => {
                    if !dir.is_dir() {
                        return Err(Error::Config(format!(
                            "--dir {}: not an existing folder",
                            dir.display()
                        )));
                    }
                    clap_mangen::generate_to(cmd, dir).map_err(|e| {
                        Error::io(format!("cannot write man pages into {}", dir.display()), e)
                    })?;
                }
                None => clap_mangen::Man::new(cmd)
                    .render(&mut std::io::stdout())
                    .map_err(|e| Error::io("cannot write the man page", e))?,
            }
            Ok(0)
        }
    }
}
