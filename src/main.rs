//! The `chatsynth` binary: parse arguments, build validated configuration, run,
//! and turn any error into one clear message and an exit code.

use std::process::ExitCode;

use clap::Parser;

use chatsynth::cli::{Cli, Command, DbAction, SchemaAction, TargetArgs};
use chatsynth::db::Target;
use chatsynth::{
    clean, embedded, explain, generate, load, schema_check, settings, validate, Result,
};

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
            if let Some(html) = &args.html {
                chatsynth::html::check_destination("--html", html)?;
            }
            let target = resolve_target(&args.target).await?;
            validate::run(&target, &args).await
        }
        Command::Explain(args) => {
            if let Some(html) = &args.html {
                chatsynth::html::check_destination("--html", html)?;
            }
            let target = if args.compare.is_some() {
                None
            } else {
                Some(resolve_target(&args.target).await?)
            };
            explain::run(target.as_ref(), &args).await
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
                        eprintln!("error: {e}");
                        Ok(2)
                    }
                }
            }
        },
        Command::Clean(args) => {
            let target = resolve_target(&args.target).await?;
            clean::run(&target).await?;
            Ok(0)
        }
    }
}
