//! The bench's command line (clap): what to load, how often, against what.

use std::path::PathBuf;

use clap::Parser;

/// chatsynth end-to-end benchmark: chatsynth load against the server's own
/// COPY and sequential builds, on the same server in one run (see the README
/// section on the benchmark).
#[derive(Debug, Parser)]
#[command(name = "throughput", about, long_about = None)]
pub struct Opts {
    /// Band to load.
    #[arg(long, default_value = "dev")]
    pub band: String,
    /// Admin connection: a role that may CREATE DATABASE and read server files.
    #[arg(
        long = "database-url",
        env = "CHATSYNTH_BENCH_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres",
        hide_env_values = true,
        hide_default_value = true,
        long_help = "Admin connection: a role that may CREATE DATABASE and read server files \
                     [default: $CHATSYNTH_BENCH_URL or postgres://postgres@127.0.0.1:5432/postgres]"
    )]
    pub url: String,
    /// Repeats of load / ideal / messages reference.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    repeat: u64,
    /// Adds the load variant "rules": issue 11's three schema changes
    /// (tests/fixtures/rules-tenant.sql on sql/schema.sql) filled by the rules
    /// of tests/fixtures/rules-tenant.toml, against the default load.
    #[arg(long)]
    pub rules: bool,
    /// An extra load variant 'NAME:ARGS'; ARGS are `load` flags, and
    /// `set:key=value` tokens become per-database settings (repeatable),
    /// e.g. --variant 'iw1:--index-workers 1'.
    #[arg(long = "variant", value_name = "NAME:ARGS", value_parser = Variant::parse, allow_hyphen_values = true)]
    extra_variants: Vec<Variant>,
    /// A profile (from `chatsynth profile`): adds the load variant "profile", `load --profile
    /// FILE` at the band's counts, and its messages rows/s against the preset load's.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Messages for the generation-only runs (0 skips them).
    #[arg(long, default_value_t = 5_000_000)]
    pub gen_messages: u64,
    /// Also load 100k users / 300k conversations / 20M messages once.
    #[arg(long)]
    scale: bool,
    /// Override the scale run's dataset flags (implies --scale).
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    scale_args: Option<String>,
    /// Skip the ideal and the messages reference.
    #[arg(long)]
    pub skip_ideal: bool,
    /// maintenance_work_mem for the ideal's builds (chatsynth's default).
    #[arg(long, default_value = "512MB")]
    pub maintenance_work_mem: String,
    /// Where the PGCOPY files go [default: <temp dir>/chatsynth-bench-<pid>].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// JSON output [default: reports/bench-<band>-<UTC time>.json].
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Passed by `cargo bench` to harness = false targets; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// One `chatsynth load` configuration measured in every repeat.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    pub load_args: Vec<String>,
    /// `ALTER DATABASE ... SET key = value` on the load's scratch database
    /// (session settings chatsynth does not set itself).
    pub db_settings: Vec<(String, String)>,
    /// SQL run in the scratch database before the load (the schema the
    /// variant loads into).
    pub setup_sql: Option<String>,
}

impl Variant {
    fn default_load() -> Variant {
        Variant {
            name: "default".into(),
            load_args: vec![],
            db_settings: vec![],
            setup_sql: None,
        }
    }

    /// `NAME:ARGS`, ARGS split on whitespace; `set:key=value` tokens are settings.
    fn parse(s: &str) -> Result<Variant, String> {
        let (name, rest) = s.split_once(':').ok_or("--variant wants NAME:ARGS")?;
        let mut var = Variant {
            name: name.into(),
            ..Variant::default_load()
        };
        for tok in rest.split_whitespace() {
            match tok.strip_prefix("set:") {
                Some(kv) => {
                    let (k, v) = kv.split_once('=').ok_or("set:key=value")?;
                    var.db_settings.push((k.into(), v.into()));
                }
                None => var.load_args.push(tok.into()),
            }
        }
        Ok(var)
    }
}

/// The name of the `--rules` load variant.
pub const RULES_VARIANT: &str = "rules";

/// `--rules`: the grown schema, and the config whose rules fill it.
fn rules_variant() -> Variant {
    let root = env!("CARGO_MANIFEST_DIR");
    Variant {
        name: RULES_VARIANT.into(),
        load_args: vec![
            "--config".into(),
            format!("{root}/tests/fixtures/rules-tenant.toml"),
        ],
        db_settings: vec![],
        setup_sql: Some(format!(
            "{}\n{}",
            include_str!("../../sql/schema.sql"),
            include_str!("../../tests/fixtures/rules-tenant.sql")
        )),
    }
}

/// The name of the `--profile` load variant.
pub const PROFILE_VARIANT: &str = "profile";

const SCALE_ARGS: &str = "--users 100000 --conversations 300000 --messages 20000000";

impl Opts {
    pub fn repeat(&self) -> usize {
        self.repeat as usize
    }

    /// The default load first, then the profile load (`--profile`), then every --variant.
    pub fn variants(&self) -> Vec<Variant> {
        std::iter::once(Variant::default_load())
            .chain(self.profile_variant())
            .chain(self.rules.then(rules_variant))
            .chain(self.extra_variants.iter().cloned())
            .collect()
    }

    /// `load --profile FILE` with the band's counts, so it writes as many rows
    /// as the preset load it is compared with.
    fn profile_variant(&self) -> Option<Variant> {
        let file = self.profile.as_ref()?;
        let counts = chatsynth::config::Band::parse(&self.band)
            .map(|b| b.preset().counts)
            .ok()?;
        Some(Variant {
            name: PROFILE_VARIANT.into(),
            load_args: vec![
                "--profile".into(),
                file.display().to_string(),
                "--users".into(),
                counts.users.to_string(),
                "--conversations".into(),
                counts.conversations.to_string(),
                "--messages".into(),
                counts.messages.to_string(),
            ],
            db_settings: vec![],
            setup_sql: None,
        })
    }

    /// The scale run's dataset flags, when it runs.
    pub fn scale_args(&self) -> Option<Vec<String>> {
        let args = match (&self.scale_args, self.scale) {
            (Some(a), _) => a,
            (None, true) => SCALE_ARGS,
            (None, false) => return None,
        };
        Some(args.split_whitespace().map(String::from).collect())
    }

    pub fn work_dir(&self) -> PathBuf {
        self.work_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("chatsynth-bench-{}", std::process::id()))
        })
    }
}
