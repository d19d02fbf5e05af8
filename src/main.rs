//! The `chatsynth` binary: parse arguments, build validated configuration, run,
//! and turn any error into one clear message and an exit code.

use std::process::ExitCode;

use clap::Parser;

use chatsynth::cli::{Cli, Command, DbAction, TargetArgs};
use chatsynth::db::Target;
use chatsynth::{clean, embedded, explain, generate, load, profile, settings, validate, Result};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
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
            let target = resolve_target(&args.target).await?;
            validate::run(&target, &args).await
        }
        Command::Explain(args) => {
            let target = if args.compare.is_some() {
                None
            } else {
                Some(resolve_target(&args.target).await?)
            };
            explain::run(target.as_ref(), &args).await
        }
        Command::Profile(args) => {
            let opts = profile::options(&args)?;
            match (&args.compare, &args.out) {
                (Some(files), out) => {
                    profile::compare_files(&files[0], &files[1], args.tolerance, out.as_deref())
                }
                (None, Some(out)) => {
                    let target = resolve_target(&args.target).await?;
                    profile::run(&target, &opts, out).await
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
            // Validate the arguments before starting anything (even the private cluster).
            settings::dataset(&args.dataset)?;
            let target = resolve_target(&args.target).await?;
            let opts = settings::load(&args, target)?;
            let (report, path) = load::run(&opts).await?;
            print!("{}", report.summary());
            println!("report: {}", path.display());
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
            settings::dataset(&args.dataset)?;
            let target = resolve_target(&args.target).await?;
            let opts = settings::refresh(&args, target)?;
            let (report, path) = load::run(&opts).await?;
            print!("{}", report.summary());
            println!("report: {}", path.display());
            Ok(0)
        }
        Command::Clean(args) => {
            let target = resolve_target(&args.target).await?;
            clean::run(&target).await?;
            Ok(0)
        }
    }
}
