//! The end-to-end benchmark: chatsynth against the server's own ceiling, side
//! by side, on the same server in one run.
//!
//! ```sh
//! cargo bench --bench throughput -- --band dev            # ~3 minutes
//! cargo bench --bench throughput -- --band dev --scale    # + 20M messages (~15+ minutes)
//! cargo bench --bench throughput -- --help
//! ```
//!
//! Per repeat, interleaved so drift on a shared machine hits every subject alike:
//!
//! 1. `chatsynth load` of the band into a fresh scratch database (its report JSON);
//!    one load per `--variant` (extra `load` flags and per-database settings);
//! 2. the ideal: bare tables (`CREATE TABLE ... (LIKE ...)`, no indexes or
//!    constraints), the server's own `COPY t FROM 'file' (FORMAT binary)` of every
//!    table's file (written once by `chatsynth generate`), then the same indexes,
//!    primary/unique constraints and foreign keys one after another, then ANALYZE;
//! 3. the messages reference: server-side COPY of `messages.pgcopy` alone into a
//!    fresh bare messages table.
//!
//! Once per run: `generate --out` (the files), `generate --discard` of the band,
//! and of `--gen-messages` messages with 1 and 2 workers (messages/s per core);
//! with `--scale`, a load of 20M messages (RSS and rows/s against the dev load).
//!
//! Needs a local server (the `postgres` OS user reads the files) and a role that
//! may `CREATE DATABASE` and read server files (a superuser). Scratch databases
//! are named `chatsynth_bench_<pid>_*` and dropped at the end, also on failure.
//! Prints a table and writes `reports/bench-<band>-<UTC time>.json`.
//!
//! Layout: `args` (the command line), `pg` (connections and scratch
//! databases), `reports` (running chatsynth, reading its JSON), `ideal` (the
//! server's own COPY and builds), `series` and `stats` (figures over repeats),
//! `summary` (the printed table and the JSON's ratios). This file runs the
//! steps in order.

mod args;
mod ideal;
mod pg;
mod reports;
mod series;
mod stats;
mod summary;

use std::path::{Path, PathBuf};

use clap::Parser;
use serde_json::{json, Value};
use tokio_postgres::Client;

use chatsynth::model::Table;

use args::{Opts, Variant};

use ideal::{IdealDdl, IdealRun};
use pg::{pg_err, q, Scratch, Server};
use reports::{chatsynth, chatsynth_writing, f, phase_of};
use series::LoadSeries;
use stats::{stats_json, utc_stamp};

type R<T> = Result<T, Box<dyn std::error::Error>>;

/// What every step needs: the options, the server, where files and reports go.
struct Ctx<'a> {
    o: &'a Opts,
    server: &'a Server,
    variants: Vec<Variant>,
    /// chatsynth's own reports of every run, kept beside the bench's.
    reports: PathBuf,
    /// The PGCOPY files of the band, for the ideal.
    files: PathBuf,
    /// `--band B`, the first flags of most chatsynth runs.
    band: Vec<String>,
}

impl Ctx<'_> {
    fn report(&self, name: &str) -> PathBuf {
        self.reports.join(name)
    }

    fn repeat_banner(&self, rep: usize, what: &str) {
        eprintln!("== repeat {}/{}: {what}", rep + 1, self.o.repeat());
    }
}

/// The measurements of the repeats.
struct Measured {
    /// One per variant, the default load first.
    series: Vec<LoadSeries>,
    ideal_runs: Vec<IdealRun>,
    /// Server COPY of messages alone, per repeat.
    ref_ms: Vec<f64>,
}

/// The ideal's scratch database and DDL, made once.
struct IdealSetup {
    client: Client,
    ddl: IdealDdl,
}

async fn run(o: &Opts, server: &Server, sc: &mut Scratch, reports_dir: &Path) -> R<Value> {
    let stamp = utc_stamp();
    let cx = prepare(o, server, reports_dir, &stamp)?;
    let mut out = header(&cx, &stamp);
    out["server_settings"] = server_settings(server).await?;
    out["generation"] = measure_generation(&cx)?;
    let ideal = if o.skip_ideal {
        None
    } else {
        Some(prepare_ideal(&cx, sc, &mut out).await?)
    };
    let measured = repeats(&cx, sc, ideal.as_ref()).await?;
    drop(ideal);
    let scale = scale_run(&cx, sc, &mut out).await?;
    summary::summarise(&cx, &measured, scale.as_ref(), &mut out);
    out["finished_at"] = json!(utc_stamp());
    Ok(out)
}

/// Makes the report and file folders; the server's OS user must reach the files.
fn prepare<'a>(o: &'a Opts, server: &'a Server, reports_dir: &Path, stamp: &str) -> R<Ctx<'a>> {
    let reports = reports_dir.join(format!("bench-{}-{stamp}", o.band));
    std::fs::create_dir_all(&reports)?;
    let work_dir = o.work_dir();
    let files = work_dir.join("files");
    std::fs::create_dir_all(&files)?;
    set_mode(&work_dir, 0o755)?;
    set_mode(&files, 0o755)?;
    Ok(Ctx {
        o,
        server,
        variants: o.variants(),
        reports,
        files,
        band: vec!["--band".to_string(), o.band.clone()],
    })
}

/// The report's opening fields: what was run, where, with what.
fn header(cx: &Ctx, stamp: &str) -> Value {
    let o = cx.o;
    json!({
        "format_version": 1,
        "command": "bench",
        "band": o.band,
        "started_at": stamp,
        "chatsynth_version": env!("CARGO_PKG_VERSION"),
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "repeat": o.repeat(),
        "variants": cx.variants.iter().map(|v| json!({"name": v.name, "load_args": v.load_args, "db_settings": v.db_settings})).collect::<Vec<_>>(),
        "ideal_maintenance_work_mem": o.maintenance_work_mem,
    })
}

/// The server settings that move the figures.
async fn server_settings(server: &Server) -> R<Value> {
    let c = server.connect_admin().await?;
    let rows = c
        .query(
            "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name = ANY($1)",
            &[&vec![
                "server_version",
                "shared_buffers",
                "maintenance_work_mem",
                "max_parallel_maintenance_workers",
                "max_wal_size",
                "wal_level",
                "synchronous_commit",
                "checkpoint_timeout",
            ]],
        )
        .await?;
    Ok(Value::Object(
        rows.iter()
            .map(|r| (r.get::<_, String>(0), Value::String(r.get(1))))
            .collect(),
    ))
}

/// Generation alone: the band, then --gen-messages with 1 and 2 workers.
fn measure_generation(cx: &Ctx) -> R<Value> {
    eprintln!("== generation alone");
    let mut gen = json!({});
    let (s, r) = chatsynth(
        &[vec!["generate".into(), "--discard".into()], cx.band.clone()].concat(),
        &cx.report("gen-band.json"),
    )?;
    gen["band_discard_wall_s"] = json!(s);
    gen["band_discard_elapsed_ms"] = json!(f(&r, &["totals", "elapsed_ms"]));
    if cx.o.gen_messages > 0 {
        for workers in [1usize, 2] {
            gen[format!("workers_{workers}")] = generation_rate(cx, workers)?;
        }
    }
    if let Some(v) = cx.variants.iter().find(|v| v.name == args::PROFILE_VARIANT) {
        gen["profile_vs_preset"] = generation_profile_vs_preset(cx, v)?;
    }
    Ok(gen)
}

/// Messages/s of the messages and children passes of a `generate --discard`
/// report.
fn messages_pass_rate(r: &Value) -> f64 {
    let ms = phase_of(r, "messages").map_or(f64::NAN, |p| f(p, &["elapsed_ms"]))
        + phase_of(r, "message children").map_or(0.0, |p| f(p, &["elapsed_ms"]));
    f(r, &["dataset", "counts", "messages"]) / (ms / 1e3)
}

/// Generation alone, one worker: the band's preset and `--profile` at the
/// band's counts, back to back per repeat (CPU only, no server in the way).
fn generation_profile_vs_preset(cx: &Ctx, v: &Variant) -> R<Value> {
    let (mut preset, mut fitted, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..cx.o.repeat() {
        let base: Vec<String> = [
            vec!["generate".into(), "--discard".into()],
            cx.band.clone(),
            vec!["--workers".into(), "1".into()],
        ]
        .concat();
        let (_, a) = chatsynth(&base, &cx.report(&format!("gen-preset-{i}.json")))?;
        let (_, b) = chatsynth(
            &[base.clone(), v.load_args.clone()].concat(),
            &cx.report(&format!("gen-profile-{i}.json")),
        )?;
        let (x, y) = (messages_pass_rate(&a), messages_pass_rate(&b));
        preset.push(x);
        fitted.push(y);
        ratio.push(y / x);
    }
    Ok(json!({
        "preset_messages_per_sec": stats_json(&preset),
        "profile_messages_per_sec": stats_json(&fitted),
        "ratio": stats_json(&ratio),
    }))
}

/// Messages/s of `generate --discard --messages N` with `workers`, up to three runs.
fn generation_rate(cx: &Ctx, workers: usize) -> R<Value> {
    let o = cx.o;
    let mut runs = Vec::new();
    let mut per_core = Vec::new();
    for i in 0..o.repeat().min(3) {
        let args: Vec<String> = [
            vec!["generate".into(), "--discard".into()],
            cx.band.clone(),
            vec![
                "--messages".into(),
                o.gen_messages.to_string(),
                "--workers".into(),
                workers.to_string(),
            ],
        ]
        .concat();
        let (_, r) = chatsynth(&args, &cx.report(&format!("gen-w{workers}-{i}.json")))?;
        // Messages with their attachments, reads and receipts: both passes.
        let ms = phase_of(&r, "messages").map_or(f64::NAN, |p| f(p, &["elapsed_ms"]))
            + phase_of(&r, "message children").map_or(0.0, |p| f(p, &["elapsed_ms"]));
        let mps = o.gen_messages as f64 / (ms / 1e3);
        runs.push(mps);
        per_core.push(mps / workers as f64);
    }
    Ok(json!({
        "messages_per_sec": stats_json(&runs),
        "messages_per_sec_per_core": stats_json(&per_core),
    }))
}

/// Writes the band's PGCOPY files (readable by the server) and the ideal's
/// scratch database with its DDL.
async fn prepare_ideal(cx: &Ctx<'_>, sc: &mut Scratch, out: &mut Value) -> R<IdealSetup> {
    eprintln!("== writing the PGCOPY files into {}", cx.files.display());
    let (s, r) = chatsynth(
        &[
            vec!["generate".into()],
            cx.band.clone(),
            vec!["--out".into(), cx.files.display().to_string()],
        ]
        .concat(),
        &cx.report("gen-files.json"),
    )?;
    for t in Table::ALL {
        set_mode(&chatsynth::generate::file_for(&cx.files, t), 0o644)?;
    }
    out["generate_files"] = json!({ "wall_s": s, "elapsed_ms": f(&r, &["totals", "elapsed_ms"]), "bytes": r["totals"]["bytes"] });
    let db = sc.fresh("ideal").await?;
    let client = cx.server.connect_to(&db).await?;
    let ddl = ideal::ideal_ddl(&client, "tpl", "ideal").await?;
    Ok(IdealSetup { client, ddl })
}

/// Per repeat, interleaved: every variant's load, the ideal, the messages reference.
async fn repeats(cx: &Ctx<'_>, sc: &mut Scratch, ideal: Option<&IdealSetup>) -> R<Measured> {
    let mut m = Measured {
        series: cx.variants.iter().map(|_| LoadSeries::default()).collect(),
        ideal_runs: Vec::new(),
        ref_ms: Vec::new(),
    };
    for rep in 0..cx.o.repeat() {
        for (v, series) in cx.variants.iter().zip(&mut m.series) {
            cx.repeat_banner(rep, &format!("chatsynth load ({})", v.name));
            let (wall, r) = load_once(cx, sc, v, rep).await?;
            series.push(wall, r);
        }
        if let Some(i) = ideal {
            cx.repeat_banner(rep, "the ideal (server COPY + sequential builds)");
            let mwm = &cx.o.maintenance_work_mem;
            m.ideal_runs
                .push(ideal::run_ideal(&i.client, &i.ddl, &cx.files, mwm).await?);
            cx.repeat_banner(rep, "server COPY of messages alone");
            m.ref_ms
                .push(ideal::run_messages_ref(&i.client, &cx.files).await?);
        }
    }
    Ok(m)
}

/// One `chatsynth load` of variant `v` into a fresh scratch database.
async fn load_once(cx: &Ctx<'_>, sc: &mut Scratch, v: &Variant, rep: usize) -> R<(f64, Value)> {
    let db = sc.fresh("load").await?;
    for (k, val) in &v.db_settings {
        let sql = format!("ALTER DATABASE {} SET {} = {}", q(&db), q(k), val);
        sc.admin
            .batch_execute(&sql)
            .await
            .map_err(|e| format!("{sql}: {}", pg_err(&e)))?;
    }
    if let Some(sql) = &v.setup_sql {
        let c = cx.server.connect_to(&db).await?;
        c.batch_execute(sql)
            .await
            .map_err(|e| format!("variant {} setup: {}", v.name, pg_err(&e)))?;
    }
    let args = [
        vec!["load".into()],
        cx.band.clone(),
        vec![
            "--database-url".into(),
            cx.server.url_of(&db)?,
            "--no-progress".into(),
        ],
        v.load_args.clone(),
    ]
    .concat();
    let result = chatsynth(&args, &cx.report(&format!("load-{}-{rep}.json", v.name)))?;
    sc.drop_db(&db).await?;
    Ok(result)
}

/// Disk the scale run needs on the server: ~3.0 GB per million messages
/// (the database ~2.3 GB with its indexes, measured at 20M; the messages
/// reference's file and bare table ~0.7 GB more, while the database stays).
const SCALE_GB_PER_MILLION_MESSAGES: f64 = 3.0;

/// What the scale run measures beside its load, in the same run.
#[derive(Default)]
pub struct ScaleExtras {
    /// Wall seconds of `validate` on a dev-band load, then on the scale load.
    pub dev_validate_s: Option<f64>,
    pub validate_s: Option<f64>,
    /// The server's own COPY of the scale load's messages, from a binary file
    /// the server wrote of them: milliseconds and rows.
    pub messages_ref_ms: Option<f64>,
    pub messages_ref_rows: Option<f64>,
}

/// With `--scale`: `validate` on a dev-band load (for the ratio), one load of
/// the scale dataset, `validate` on it, and the server's own COPY of its
/// messages at that size. A refused or failed scale run is reported in `out`,
/// not fatal: the band's figures stand.
async fn scale_run(
    cx: &Ctx<'_>,
    sc: &mut Scratch,
    out: &mut Value,
) -> R<Option<(LoadSeries, ScaleExtras)>> {
    let Some(scale_args) = cx.o.scale_args() else {
        return Ok(None);
    };
    eprintln!("== scale: {}", scale_args.join(" "));
    if let Err(e) = scale_preflight(cx.server, &scale_args).await {
        eprintln!("   scale run skipped: {e}");
        out["scale_error"] = json!(e.to_string());
        return Ok(None);
    }
    let mut extras = ScaleExtras::default();
    eprintln!("== scale: validate on a {} load, for the ratio", cx.o.band);
    let dev = sc.fresh("scale-dev").await?;
    let url = cx.server.url_of(&dev)?;
    let dev_load = [
        vec!["load".into(), "--database-url".into(), url.clone()],
        vec!["--no-progress".into()],
        cx.band.clone(),
    ]
    .concat();
    chatsynth(&dev_load, &cx.report("load-scale-dev.json"))?;
    extras.dev_validate_s = validate(
        &url,
        &cx.report("load-scale-dev.json"),
        &cx.report("validate-scale-dev.json"),
        out,
    );
    sc.drop_db(&dev).await?;

    let db = sc.fresh("scale").await?;
    let url = cx.server.url_of(&db)?;
    let args = [
        vec![
            "load".into(),
            "--database-url".into(),
            url.clone(),
            "--no-progress".into(),
        ],
        scale_args,
    ]
    .concat();
    let scale = match chatsynth(&args, &cx.report("load-scale.json")) {
        Ok((wall, r)) => {
            let mut s = LoadSeries::default();
            s.push(wall, r);
            Some(s)
        }
        Err(e) => {
            eprintln!("   scale run failed: {e}");
            out["scale_error"] = json!(e.to_string());
            None
        }
    };
    if scale.is_some() {
        extras.validate_s = validate(
            &url,
            &cx.report("load-scale.json"),
            &cx.report("validate-scale.json"),
            out,
        );
        eprintln!("== scale: the server's own COPY of the same messages");
        match messages_copy_ref(cx, &db).await {
            Ok((ms, rows)) => {
                extras.messages_ref_ms = Some(ms);
                extras.messages_ref_rows = Some(rows);
            }
            Err(e) => {
                eprintln!("   messages reference failed: {e}");
                out["scale_ref_error"] = json!(e.to_string());
            }
        }
    }
    sc.drop_db(&db).await?;
    Ok(scale.map(|s| (s, extras)))
}

/// Wall seconds of `chatsynth validate` on `url`, against the load's
/// report; a failure (or NO-GO) is recorded in `out` and gives None.
fn validate(url: &str, load_report: &Path, result: &Path, out: &mut Value) -> Option<f64> {
    let args = [
        "validate".to_string(),
        "--database-url".into(),
        url.into(),
        "--report".into(),
        load_report.display().to_string(),
    ];
    match chatsynth_writing(&args, "--out", result) {
        Ok((secs, _)) => Some(secs),
        Err(e) => {
            eprintln!("   validate failed: {e}");
            out["scale_validate_error"] = json!(e.to_string());
            None
        }
    }
}

/// The server writes the loaded messages to a binary COPY file, then COPYs
/// that file into a bare messages table (the same table as the band's
/// reference): milliseconds of the second COPY, and its rows.
async fn messages_copy_ref(cx: &Ctx<'_>, db: &str) -> R<(f64, f64)> {
    let dir = cx.files.join("scale-ref");
    std::fs::create_dir_all(&dir)?;
    // The server's OS user writes the file.
    set_mode(&dir, 0o777)?;
    let file = dir.join("messages.pgcopy");
    let lit = format!("'{}'", file.display().to_string().replace('\'', "''"));
    let c = cx.server.connect_to(db).await?;
    let copy = Table::Messages.copy_sql("public");
    c.batch_execute(&copy.replace("FROM STDIN", &format!("TO {lit}")))
        .await?;
    c.batch_execute(
        "CREATE SCHEMA ref; CREATE TABLE ref.messages \
         (LIKE public.messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
    )
    .await?;
    let t = std::time::Instant::now();
    let rows = c
        .execute(
            &Table::Messages
                .copy_sql("ref")
                .replace("FROM STDIN", &format!("FROM {lit}")),
            &[],
        )
        .await?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    c.batch_execute("DROP SCHEMA ref CASCADE").await?;
    std::fs::remove_dir_all(&dir)?;
    Ok((ms, rows as f64))
}

/// Refuses the scale run when the server's data directory (a local server)
/// lacks the room, instead of filling a shared disk.
async fn scale_preflight(server: &Server, scale_args: &[String]) -> R<()> {
    let messages: f64 = scale_args
        .iter()
        .position(|a| a == "--messages")
        .and_then(|i| scale_args.get(i + 1))
        .and_then(|m| m.parse().ok())
        .unwrap_or(20e6);
    let need_gb = messages / 1e6 * SCALE_GB_PER_MILLION_MESSAGES;
    let c = server.connect_admin().await?;
    let dir: String = c.query_one("SHOW data_directory", &[]).await?.get(0);
    let st = nix::sys::statvfs::statvfs(dir.as_str())
        .map_err(|e| format!("cannot check free space of {dir} (is the server local?): {e}"))?;
    let free_gb = st.blocks_available() as f64 * st.fragment_size() as f64 / 1e9;
    if free_gb < need_gb * 1.2 {
        return Err(format!(
            "{messages:.0} messages need ~{need_gb:.0} GB on the server's disk; {dir} has {free_gb:.0} GB free"
        )
        .into());
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(p: &Path, mode: u32) -> R<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn fail(code: i32, e: impl std::fmt::Display) -> ! {
    eprintln!("error: {e}");
    std::process::exit(code);
}

#[tokio::main]
async fn main() {
    let o = Opts::parse();
    let server = Server::parse(&o.url).unwrap_or_else(|e| fail(2, e));
    let admin = server.connect_admin().await.unwrap_or_else(|e| fail(2, e));
    let mut sc = Scratch::new(admin);
    let reports_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reports");
    let result = tokio::select! {
        r = run(&o, &server, &mut sc, &reports_dir) => r,
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
    };
    sc.drop_all().await;
    let _ = std::fs::remove_dir_all(o.work_dir());
    let v = result.unwrap_or_else(|e| fail(1, e));
    let path = o
        .report
        .clone()
        .unwrap_or_else(|| reports_dir.join(format!("bench-{}-{}.json", o.band, utc_stamp())));
    match chatsynth::util::json::write_atomic(&path, &v) {
        Ok(()) => println!("report: {}", path.display()),
        Err(e) => fail(1, format_args!("cannot write {}: {e}", path.display())),
    }
}
