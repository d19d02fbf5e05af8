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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};
use tokio_postgres::{Client, NoTls};

use chatsynth::model::Table;

const SCHEMA_SQL: &str = include_str!("../sql/schema.sql");
const OLD_GENERATOR_S: f64 = 600.0; // the ORM generator: 500,000 messages in ten minutes
const OLD_GENERATOR_MESSAGES: f64 = 500_000.0;

type R<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(Debug, Clone)]
struct Variant {
    name: String,
    load_args: Vec<String>,
    /// `ALTER DATABASE ... SET key = value` on the load's scratch database
    /// (session settings chatsynth does not set itself).
    db_settings: Vec<(String, String)>,
}

#[derive(Debug)]
struct Opts {
    band: String,
    url: String,
    repeat: usize,
    variants: Vec<Variant>,
    gen_messages: u64,
    scale: bool,
    scale_args: Vec<String>,
    skip_ideal: bool,
    maintenance_work_mem: String,
    work_dir: PathBuf,
    report: Option<PathBuf>,
}

const HELP: &str = "\
chatsynth end-to-end benchmark (see the README section on the benchmark)

  --band B                 band to load (default dev)
  --database-url URL       admin connection (default $CHATSYNTH_BENCH_URL or
                           postgres://postgres@127.0.0.1:5432/postgres)
  --repeat N               repeats of load / ideal / messages reference (default 3)
  --variant 'NAME:ARGS'    an extra load variant; ARGS are `load` flags, and
                           `set:key=value` tokens become per-database settings
                           (repeatable), e.g. --variant 'iw1:--index-workers 1'
  --gen-messages N         messages for the generation-only runs (default 5000000; 0 skips)
  --scale                  also load 100k users / 300k conversations / 20M messages once
  --scale-args 'ARGS'      override the scale run's dataset flags
  --skip-ideal             skip the ideal and the messages reference
  --maintenance-work-mem S for the ideal's builds (default 512MB, chatsynth's default)
  --work-dir DIR           where the PGCOPY files go (default /tmp/chatsynth-bench-<pid>)
  --report PATH            JSON output (default reports/bench-<band>-<UTC time>.json)
";

fn parse_args() -> R<Opts> {
    let mut o = Opts {
        band: "dev".into(),
        url: std::env::var("CHATSYNTH_BENCH_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        repeat: 3,
        variants: vec![Variant {
            name: "default".into(),
            load_args: vec![],
            db_settings: vec![],
        }],
        gen_messages: 5_000_000,
        scale: false,
        scale_args: "--users 100000 --conversations 300000 --messages 20000000"
            .split_whitespace()
            .map(String::from)
            .collect(),
        skip_ideal: false,
        maintenance_work_mem: "512MB".into(),
        work_dir: std::env::temp_dir().join(format!("chatsynth-bench-{}", std::process::id())),
        report: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "--band" => o.band = val()?,
            "--database-url" => o.url = val()?,
            "--repeat" => o.repeat = val()?.parse()?,
            "--variant" => {
                let v = val()?;
                let (name, rest) = v.split_once(':').ok_or("--variant wants NAME:ARGS")?;
                let mut var = Variant {
                    name: name.into(),
                    load_args: vec![],
                    db_settings: vec![],
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
                o.variants.push(var);
            }
            "--gen-messages" => o.gen_messages = val()?.parse()?,
            "--scale" => o.scale = true,
            "--scale-args" => {
                o.scale_args = val()?.split_whitespace().map(String::from).collect();
                o.scale = true;
            }
            "--skip-ideal" => o.skip_ideal = true,
            "--maintenance-work-mem" => o.maintenance_work_mem = val()?,
            "--work-dir" => o.work_dir = val()?.into(),
            "--report" => o.report = Some(val()?.into()),
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n{HELP}").into()),
        }
    }
    if o.repeat == 0 {
        return Err("--repeat must be at least 1".into());
    }
    Ok(o)
}

fn db_url(admin: &str, db: &str) -> String {
    let (base, query) = match admin.find('?') {
        Some(i) => (&admin[..i], &admin[i..]),
        None => (admin, ""),
    };
    match base.rfind('/') {
        Some(i) if !base[..i].ends_with('/') => format!("{}/{}{}", &base[..i], db, query),
        _ => format!("{base}/{db}{query}"),
    }
}

async fn connect(url: &str) -> R<Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

fn pg_err(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_string())
}

fn q(id: &str) -> String {
    format!("\"{}\"", id.replace('"', "\"\""))
}

/// Scratch databases of this run; all dropped at the end.
struct Scratch {
    admin: Client,
    url: String,
    made: Vec<String>,
}

impl Scratch {
    async fn fresh(&mut self, tag: &str) -> R<String> {
        let name = format!("chatsynth_bench_{}_{tag}", std::process::id());
        self.drop_db(&name).await?;
        self.admin
            .batch_execute(&format!("CREATE DATABASE {}", q(&name)))
            .await?;
        if !self.made.contains(&name) {
            self.made.push(name.clone());
        }
        Ok(name)
    }
    async fn drop_db(&self, name: &str) -> R<()> {
        self.admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", q(name)))
            .await?;
        Ok(())
    }
    async fn drop_all(&mut self) {
        for n in std::mem::take(&mut self.made) {
            if let Err(e) = self.drop_db(&n).await {
                eprintln!("warning: could not drop scratch database {n}: {e}");
            }
        }
    }
}

/// Runs the chatsynth binary (built by cargo with the release-based bench
/// profile); returns wall seconds and its report JSON.
fn chatsynth(args: &[String], report: &Path) -> R<(f64, Value)> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatsynth"));
    cmd.args(args)
        .arg("--report")
        .arg(report)
        .env_remove("DATABASE_URL");
    eprintln!("  $ chatsynth {}", args.join(" "));
    let t = Instant::now();
    let out = cmd.output()?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "chatsynth {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let v: Value = serde_json::from_slice(&std::fs::read(report)?)?;
    Ok((secs, v))
}

fn f(v: &Value, path: &[&str]) -> f64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_f64().unwrap_or(f64::NAN)
}

fn table_of<'a>(report: &'a Value, name: &str) -> Option<&'a Value> {
    report["phases"]
        .as_array()?
        .iter()
        .flat_map(|p| p["tables"].as_array().into_iter().flatten())
        .find(|t| t["table"] == name)
}

fn phase_of<'a>(report: &'a Value, name: &str) -> Option<&'a Value> {
    report["phases"]
        .as_array()?
        .iter()
        .find(|p| p["phase"] == name)
}

fn step_ms(report: &Value, step: &str) -> f64 {
    report["post_load"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["step"] == step))
        .map_or(f64::NAN, |s| f(s, &["elapsed_ms"]))
}

/// The ideal's DDL, read from a template schema built from sql/schema.sql.
struct IdealDdl {
    /// (table, name, statement) for PK/unique constraints and plain indexes.
    indexes: Vec<(String, String, String)>,
    /// (table, name, statement)
    foreign_keys: Vec<(String, String, String)>,
}

async fn ideal_ddl(c: &Client, tpl: &str, dst: &str) -> R<IdealDdl> {
    c.batch_execute(&format!(
        "CREATE SCHEMA {t}; SET search_path TO {t}; {SCHEMA_SQL}; RESET search_path;",
        t = q(tpl)
    ))
    .await?;
    let names: Vec<String> = Table::ALL.iter().map(|t| t.name().to_string()).collect();
    let rows = c
        .query(
            "SELECT c.relname::text, i.relname::text, pg_get_indexdef(x.indexrelid), \
                    con.conname::text, pg_get_constraintdef(con.oid) \
             FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid \
             JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid \
                  AND con.contype IN ('p','u') \
             WHERE n.nspname = $1 AND c.relname = ANY($2) \
             ORDER BY array_position($2, c.relname::text), con.conname IS NULL, i.relname",
            &[&tpl, &names],
        )
        .await?;
    let mut indexes = Vec::new();
    for r in &rows {
        let (table, index): (String, String) = (r.get(0), r.get(1));
        let stmt = match r.get::<_, Option<String>>(3) {
            Some(con) => format!(
                "ALTER TABLE {}.{} ADD CONSTRAINT {} {}",
                q(dst),
                q(&table),
                q(&con),
                r.get::<_, String>(4)
            ),
            None => {
                let def: String = r.get(2);
                let using = def
                    .find(" USING ")
                    .ok_or("index definition without USING")?;
                let head = &def[..def.find(" INDEX ").ok_or("not an index")?];
                format!(
                    "{head} INDEX {} ON {}.{}{}",
                    q(&index),
                    q(dst),
                    q(&table),
                    &def[using..]
                )
            }
        };
        indexes.push((table, index, stmt));
    }
    let rows = c
        .query(
            "SELECT c.relname::text, con.conname::text, pg_get_constraintdef(con.oid) \
             FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND con.contype = 'f' \
             ORDER BY array_position($2, c.relname::text), con.conname",
            &[&tpl, &names],
        )
        .await?;
    let foreign_keys = rows
        .iter()
        .map(|r| {
            let (table, name, def): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            // The definition names the template schema (a plain identifier,
            // so unquoted): point it at the ideal's tables.
            let def = def.replace(
                &format!("REFERENCES {tpl}."),
                &format!("REFERENCES {}.", q(dst)),
            );
            let stmt = format!(
                "ALTER TABLE {}.{} ADD CONSTRAINT {} {def}",
                q(dst),
                q(&table),
                q(&name)
            );
            (table, name, stmt)
        })
        .collect();
    Ok(IdealDdl {
        indexes,
        foreign_keys,
    })
}

async fn bare_tables(c: &Client, tpl: &str, dst: &str, tables: &[Table]) -> R<()> {
    c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", q(dst)))
        .await?;
    for t in tables {
        c.batch_execute(&format!(
            "DROP TABLE IF EXISTS {d}.{n}; CREATE TABLE {d}.{n} (LIKE {s}.{n} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
            d = q(dst),
            s = q(tpl),
            n = q(t.name())
        ))
        .await?;
    }
    Ok(())
}

fn server_copy_sql(t: Table, schema: &str, file: &Path) -> String {
    t.copy_sql(schema).replace(
        "FROM STDIN",
        &format!("FROM '{}'", file.display().to_string().replace('\'', "''")),
    )
}

#[derive(Default)]
struct IdealRun {
    copy_ms: BTreeMap<String, f64>,
    builds: Vec<(String, f64)>,
    indexes_ms: f64,
    foreign_keys_ms: f64,
    analyze_ms: f64,
    total_ms: f64,
}

async fn run_ideal(c: &Client, ddl: &IdealDdl, files: &Path, mwm: &str) -> R<IdealRun> {
    let dst = "ideal";
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {d} CASCADE; SET maintenance_work_mem = '{mwm}'",
        d = q(dst)
    ))
    .await?;
    bare_tables(c, "tpl", dst, &Table::ALL).await?;
    let mut r = IdealRun::default();
    for t in Table::ALL {
        let t0 = Instant::now();
        c.batch_execute(&server_copy_sql(
            t,
            dst,
            &chatsynth::generate::file_for(files, t),
        ))
        .await?;
        r.copy_ms
            .insert(t.name().into(), t0.elapsed().as_secs_f64() * 1e3);
    }
    let t0 = Instant::now();
    for (_, name, stmt) in &ddl.indexes {
        let t = Instant::now();
        c.batch_execute(stmt)
            .await
            .map_err(|e| format!("{stmt}: {}", pg_err(&e)))?;
        r.builds
            .push((name.clone(), t.elapsed().as_secs_f64() * 1e3));
    }
    r.indexes_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t0 = Instant::now();
    for (_, name, stmt) in &ddl.foreign_keys {
        let t = Instant::now();
        c.batch_execute(stmt)
            .await
            .map_err(|e| format!("{stmt}: {}", pg_err(&e)))?;
        r.builds
            .push((name.clone(), t.elapsed().as_secs_f64() * 1e3));
    }
    r.foreign_keys_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t0 = Instant::now();
    let names: Vec<String> = Table::ALL
        .iter()
        .map(|t| format!("{}.{}", q(dst), q(t.name())))
        .collect();
    c.batch_execute(&format!("ANALYZE {}", names.join(", ")))
        .await?;
    r.analyze_ms = t0.elapsed().as_secs_f64() * 1e3;
    r.total_ms = r.copy_ms.values().sum::<f64>() + r.indexes_ms + r.foreign_keys_ms + r.analyze_ms;
    c.batch_execute(&format!("DROP SCHEMA {} CASCADE", q(dst)))
        .await?;
    Ok(r)
}

/// Server-side COPY of messages.pgcopy alone into a fresh bare messages table.
async fn run_messages_ref(c: &Client, files: &Path) -> R<f64> {
    bare_tables(c, "tpl", "ref", &[Table::Messages]).await?;
    let t0 = Instant::now();
    c.batch_execute(&server_copy_sql(
        Table::Messages,
        "ref",
        &chatsynth::generate::file_for(files, Table::Messages),
    ))
    .await?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    c.batch_execute("DROP SCHEMA ref CASCADE").await?;
    Ok(ms)
}

/// median, min, max
fn stats(xs: &[f64]) -> (f64, f64, f64) {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (med, v[0], v[n - 1])
}

fn stats_json(xs: &[f64]) -> Value {
    let (m, lo, hi) = stats(xs);
    json!({ "median": m, "min": lo, "max": hi, "runs": xs })
}

fn line(label: &str, xs: &[f64], unit: &str, scale: f64, prec: usize) {
    let (m, lo, hi) = stats(xs);
    let spread = if xs.len() > 1 {
        format!(
            "  [{:.p$} .. {:.p$}] n={}",
            lo * scale,
            hi * scale,
            xs.len(),
            p = prec
        )
    } else {
        String::new()
    };
    println!(
        "{label:<52} {:>14.p$} {unit:<8}{spread}",
        m * scale,
        p = prec
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "MET"
    } else {
        "NOT MET"
    }
}

fn utc_stamp() -> String {
    chatsynth::util::calendar::compact(chatsynth::util::calendar::now_ms())
}

#[derive(Default)]
struct LoadSeries {
    wall_s: Vec<f64>,
    total_ms: Vec<f64>,
    messages_rps: Vec<f64>,
    messages_phase_ms: Vec<f64>,
    load_phases_ms: Vec<f64>,
    indexes_ms: Vec<f64>,
    fks_ms: Vec<f64>,
    analyze_ms: Vec<f64>,
    peak_rss_mb: Vec<f64>,
    gen_busy_ms: Vec<f64>,
    gen_blocked_ms: Vec<f64>,
    reports: Vec<Value>,
}

impl LoadSeries {
    fn push(&mut self, wall: f64, r: Value) {
        self.wall_s.push(wall);
        self.total_ms.push(f(&r, &["totals", "elapsed_ms"]));
        self.load_phases_ms
            .push(f(&r, &["totals", "load_phases_ms"]));
        self.messages_rps
            .push(table_of(&r, "messages").map_or(f64::NAN, |t| f(t, &["rows_per_sec"])));
        let mp = phase_of(&r, "messages");
        // The messages table has a phase of its own; attachments, reads and
        // receipts follow in "message children". Together they load the four
        // tables the reference copies one after another.
        let children_ms = phase_of(&r, "message children").map_or(0.0, |p| f(p, &["elapsed_ms"]));
        self.messages_phase_ms
            .push(mp.map_or(f64::NAN, |p| f(p, &["elapsed_ms"])) + children_ms);
        self.gen_busy_ms
            .push(mp.map_or(f64::NAN, |p| f(p, &["generator", "generating_ms"])));
        self.gen_blocked_ms
            .push(mp.map_or(f64::NAN, |p| f(p, &["generator", "blocked_on_channel_ms"])));
        self.indexes_ms.push(step_ms(&r, "indexes (all)"));
        self.fks_ms.push(step_ms(&r, "foreign keys (all)"));
        self.analyze_ms.push(step_ms(&r, "ANALYZE"));
        self.peak_rss_mb.push(f(&r, &["peak_rss_mb"]));
        self.reports.push(r);
    }

    fn json(&self) -> Value {
        json!({
            "wall_s": stats_json(&self.wall_s),
            "totals_elapsed_ms": stats_json(&self.total_ms),
            "load_phases_ms": stats_json(&self.load_phases_ms),
            "messages_rows_per_sec": stats_json(&self.messages_rps),
            "messages_phase_ms": stats_json(&self.messages_phase_ms),
            "messages_phase_generating_ms": stats_json(&self.gen_busy_ms),
            "messages_phase_generators_blocked_ms": stats_json(&self.gen_blocked_ms),
            "indexes_ms": stats_json(&self.indexes_ms),
            "foreign_keys_ms": stats_json(&self.fks_ms),
            "analyze_ms": stats_json(&self.analyze_ms),
            "peak_rss_mb": stats_json(&self.peak_rss_mb),
            "per_table": per_table_json(&self.reports),
        })
    }
}

/// Per table of the messages phase: rows/s, send latency, stream starvation.
fn per_table_json(reports: &[Value]) -> Value {
    let mut out = serde_json::Map::new();
    for t in Table::ALL {
        let rows: Vec<&Value> = reports
            .iter()
            .filter_map(|r| table_of(r, t.name()))
            .collect();
        let col = |p: &[&str]| stats_json(&rows.iter().map(|x| f(x, p)).collect::<Vec<_>>());
        out.insert(
            t.name().into(),
            json!({
                "rows": rows.first().map(|x| x["rows"].clone()),
                "streams": rows.first().map(|x| x["streams"].clone()),
                "rows_per_sec": col(&["rows_per_sec"]),
                "send_p50_us": col(&["chunk_send_latency_us", "p50"]),
                "send_p99_us": col(&["chunk_send_latency_us", "p99"]),
                "streams_waiting_for_generators_ms": col(&["streams_waiting_for_generators_ms"]),
                "server_ack_ms": col(&["server_ack_ms"]),
            }),
        );
    }
    Value::Object(out)
}

async fn run(o: &Opts, sc: &mut Scratch, reports_dir: &Path) -> R<Value> {
    let stamp = utc_stamp();
    // chatsynth's own reports of every run are kept beside the bench's.
    let tmp_reports = reports_dir.join(format!("bench-{}-{stamp}", o.band));
    std::fs::create_dir_all(&tmp_reports)?;
    let files = o.work_dir.join("files");
    // The server's OS user must reach and read the files.
    std::fs::create_dir_all(&files)?;
    set_mode(&o.work_dir, 0o755)?;
    set_mode(&files, 0o755)?;
    let band = vec!["--band".to_string(), o.band.clone()];
    let mut out = json!({
        "format_version": 1,
        "command": "bench",
        "band": o.band,
        "started_at": stamp,
        "chatsynth_version": env!("CARGO_PKG_VERSION"),
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "repeat": o.repeat,
        "variants": o.variants.iter().map(|v| json!({"name": v.name, "load_args": v.load_args, "db_settings": v.db_settings})).collect::<Vec<_>>(),
        "ideal_maintenance_work_mem": o.maintenance_work_mem,
    });
    let server = connect(&o.url).await?;
    let settings = server
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
    out["server_settings"] = Value::Object(
        settings
            .iter()
            .map(|r| (r.get::<_, String>(0), Value::String(r.get(1))))
            .collect(),
    );
    drop(server);

    // Generation alone: the band, then --gen-messages with 1 and 2 workers.
    eprintln!("== generation alone");
    let mut gen = json!({});
    let (s, r) = chatsynth(
        &[vec!["generate".into(), "--discard".into()], band.clone()].concat(),
        &tmp_reports.join("gen-band.json"),
    )?;
    gen["band_discard_wall_s"] = json!(s);
    gen["band_discard_elapsed_ms"] = json!(f(&r, &["totals", "elapsed_ms"]));
    if o.gen_messages > 0 {
        for workers in [1usize, 2] {
            let mut runs = Vec::new();
            let mut per_core = Vec::new();
            for i in 0..o.repeat.min(3) {
                let args: Vec<String> = vec![
                    "generate".into(),
                    "--discard".into(),
                    "--band".into(),
                    o.band.clone(),
                    "--messages".into(),
                    o.gen_messages.to_string(),
                    "--workers".into(),
                    workers.to_string(),
                ];
                let (_, r) =
                    chatsynth(&args, &tmp_reports.join(format!("gen-w{workers}-{i}.json")))?;
                // Messages with their attachments, reads and receipts: both passes.
                let ms = phase_of(&r, "messages").map_or(f64::NAN, |p| f(p, &["elapsed_ms"]))
                    + phase_of(&r, "message children").map_or(0.0, |p| f(p, &["elapsed_ms"]));
                let mps = o.gen_messages as f64 / (ms / 1e3);
                runs.push(mps);
                per_core.push(mps / workers as f64);
            }
            gen[format!("workers_{workers}")] = json!({
                "messages_per_sec": stats_json(&runs),
                "messages_per_sec_per_core": stats_json(&per_core),
            });
        }
    }
    out["generation"] = gen;

    // The files for the ideal and the messages reference.
    let mut ideal_runs = Vec::new();
    let mut ref_ms = Vec::new();
    let mut ideal_db = None;
    let mut ddl = None;
    if !o.skip_ideal {
        eprintln!("== writing the PGCOPY files into {}", files.display());
        let (s, r) = chatsynth(
            &[
                vec!["generate".into()],
                band.clone(),
                vec!["--out".into(), files.display().to_string()],
            ]
            .concat(),
            &tmp_reports.join("gen-files.json"),
        )?;
        for t in Table::ALL {
            set_mode(&chatsynth::generate::file_for(&files, t), 0o644)?;
        }
        out["generate_files"] = json!({ "wall_s": s, "elapsed_ms": f(&r, &["totals", "elapsed_ms"]), "bytes": r["totals"]["bytes"] });
        let db = sc.fresh("ideal").await?;
        let c = connect(&db_url(&o.url, &db)).await?;
        ddl = Some(ideal_ddl(&c, "tpl", "ideal").await?);
        ideal_db = Some(c);
    }

    let mut series: Vec<LoadSeries> = o.variants.iter().map(|_| LoadSeries::default()).collect();
    for rep in 0..o.repeat {
        for (vi, v) in o.variants.iter().enumerate() {
            eprintln!(
                "== repeat {}/{}: chatsynth load ({})",
                rep + 1,
                o.repeat,
                v.name
            );
            let db = sc.fresh("load").await?;
            for (k, val) in &v.db_settings {
                sc.admin
                    .batch_execute(&format!("ALTER DATABASE {} SET {} = {}", q(&db), q(k), val))
                    .await?;
            }
            let args = [
                vec!["load".into()],
                band.clone(),
                vec![
                    "--database-url".into(),
                    db_url(&o.url, &db),
                    "--no-progress".into(),
                ],
                v.load_args.clone(),
            ]
            .concat();
            let (wall, r) = chatsynth(
                &args,
                &tmp_reports.join(format!("load-{}-{rep}.json", v.name)),
            )?;
            series[vi].push(wall, r);
            sc.drop_db(&db).await?;
        }
        if let (Some(c), Some(ddl)) = (&ideal_db, &ddl) {
            eprintln!(
                "== repeat {}/{}: the ideal (server COPY + sequential builds)",
                rep + 1,
                o.repeat
            );
            ideal_runs.push(run_ideal(c, ddl, &files, &o.maintenance_work_mem).await?);
            eprintln!(
                "== repeat {}/{}: server COPY of messages alone",
                rep + 1,
                o.repeat
            );
            ref_ms.push(run_messages_ref(c, &files).await?);
        }
    }
    drop(ideal_db);

    let mut scale = None;
    if o.scale {
        eprintln!("== scale: {}", o.scale_args.join(" "));
        match scale_preflight(&o.url, &o.scale_args).await {
            Err(e) => {
                eprintln!("   scale run skipped: {e}");
                out["scale_error"] = json!(e.to_string());
            }
            Ok(()) => {
                let db = sc.fresh("scale").await?;
                let args = [
                    vec![
                        "load".into(),
                        "--database-url".into(),
                        db_url(&o.url, &db),
                        "--no-progress".into(),
                    ],
                    o.scale_args.clone(),
                ]
                .concat();
                // A failed scale run is reported, not fatal: the band's figures stand.
                match chatsynth(&args, &tmp_reports.join("load-scale.json")) {
                    Ok((wall, r)) => {
                        let mut s = LoadSeries::default();
                        s.push(wall, r);
                        scale = Some(s);
                    }
                    Err(e) => {
                        eprintln!("   scale run failed: {e}");
                        out["scale_error"] = json!(e.to_string());
                    }
                }
                sc.drop_db(&db).await?;
            }
        }
    }

    // ---- the table ----
    let base = &series[0];
    let messages_rows =
        table_of(&base.reports[0], "messages").map_or(f64::NAN, |t| f(t, &["rows"]));
    println!();
    println!(
        "chatsynth benchmark: band {}, {} repeat(s), medians [min .. max]",
        o.band, o.repeat
    );
    println!("{}", "-".repeat(100));
    for (v, s) in o.variants.iter().zip(&series) {
        println!(
            "load variant {:?} {}",
            v.name,
            [
                v.load_args.join(" "),
                v.db_settings
                    .iter()
                    .map(|(k, x)| format!("{k}={x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ]
            .join(" ")
            .trim()
        );
        line("  end-to-end wall clock", &s.wall_s, "s", 1.0, 2);
        line("  load phases", &s.load_phases_ms, "s", 1e-3, 2);
        line(
            "  messages + children phases",
            &s.messages_phase_ms,
            "s",
            1e-3,
            2,
        );
        line("  messages table rows/s", &s.messages_rps, "rows/s", 1.0, 0);
        line(
            "  messages phase generators busy",
            &s.gen_busy_ms,
            "s",
            1e-3,
            2,
        );
        line(
            "  messages phase generators blocked",
            &s.gen_blocked_ms,
            "s",
            1e-3,
            2,
        );
        line("  indexes (all)", &s.indexes_ms, "s", 1e-3, 2);
        line("  foreign keys (all)", &s.fks_ms, "s", 1e-3, 2);
        line("  ANALYZE", &s.analyze_ms, "s", 1e-3, 2);
        line("  peak RSS", &s.peak_rss_mb, "MB", 1.0, 0);
        for t in [
            Table::Messages,
            Table::Attachments,
            Table::MessageReads,
            Table::MessageReceipts,
        ] {
            let rows: Vec<&Value> = s
                .reports
                .iter()
                .filter_map(|r| table_of(r, t.name()))
                .collect();
            let p99: Vec<f64> = rows
                .iter()
                .map(|x| f(x, &["chunk_send_latency_us", "p99"]))
                .collect();
            let starve: Vec<f64> = rows
                .iter()
                .map(|x| f(x, &["streams_waiting_for_generators_ms"]))
                .collect();
            let (p, _, _) = stats(&p99);
            let (w, _, _) = stats(&starve);
            line(
                &format!(
                    "  {} rows/s (send p99 {:.0}us, starved {:.0}ms)",
                    t.name(),
                    p,
                    w
                ),
                &rows
                    .iter()
                    .map(|x| f(x, &["rows_per_sec"]))
                    .collect::<Vec<_>>(),
                "rows/s",
                1.0,
                0,
            );
        }
    }
    let mut ratios = json!({});
    if !ideal_runs.is_empty() {
        let col = |g: &dyn Fn(&IdealRun) -> f64| ideal_runs.iter().map(g).collect::<Vec<f64>>();
        let ideal_total = col(&|r| r.total_ms);
        let copy_all = col(&|r| r.copy_ms.values().sum());
        let msg_children = col(&|r| {
            [
                "messages",
                "attachments",
                "message_reads",
                "message_receipts",
            ]
            .iter()
            .map(|t| r.copy_ms[*t])
            .sum()
        });
        println!("ideal: server-side COPY from files + sequential builds");
        line("  COPY of every table", &copy_all, "s", 1e-3, 2);
        for t in Table::ALL {
            line(
                &format!("    COPY {}", t.name()),
                &col(&|r| r.copy_ms[t.name()]),
                "s",
                1e-3,
                2,
            );
        }
        line(
            "  indexes + PK/unique, one after another",
            &col(&|r| r.indexes_ms),
            "s",
            1e-3,
            2,
        );
        line(
            "  foreign keys, one after another",
            &col(&|r| r.foreign_keys_ms),
            "s",
            1e-3,
            2,
        );
        line("  ANALYZE", &col(&|r| r.analyze_ms), "s", 1e-3, 2);
        line("  ideal total", &ideal_total, "s", 1e-3, 2);
        let ref_rps: Vec<f64> = ref_ms.iter().map(|ms| messages_rows / (ms / 1e3)).collect();
        line(
            "messages reference: server COPY of messages alone",
            &ref_ms,
            "s",
            1e-3,
            2,
        );
        line("  rows/s", &ref_rps, "rows/s", 1.0, 0);
        println!("{}", "-".repeat(100));
        // Ratios: per repeat (same repeat's measurements), then summarised.
        let (ref_med, _, _) = stats(&ref_rps);
        let (ideal_med, _, _) = stats(&ideal_total);
        let (mc_med, _, _) = stats(&msg_children);
        for (v, s) in o.variants.iter().zip(&series) {
            let raw: Vec<f64> = s
                .messages_rps
                .iter()
                .zip(&ref_rps)
                .map(|(a, b)| a / b)
                .collect();
            let phase: Vec<f64> = s
                .messages_phase_ms
                .iter()
                .zip(&msg_children)
                .map(|(a, b)| b / a)
                .collect();
            let e2e: Vec<f64> = s
                .total_ms
                .iter()
                .zip(&ideal_total)
                .map(|(a, b)| a / b)
                .collect();
            let e2e_wall: Vec<f64> = s
                .wall_s
                .iter()
                .zip(&ideal_total)
                .map(|(a, b)| a * 1e3 / b)
                .collect();
            println!(
                "ratios for load variant {:?} (per repeat, then median [min .. max])",
                v.name
            );
            line(
                "  messages rows/s / server COPY rows/s (>= 1.0)",
                &raw,
                "x",
                1.0,
                3,
            );
            line(
                "  messages + children phases: server COPY of the 4 tables / phases",
                &phase,
                "x",
                1.0,
                3,
            );
            line("  end-to-end / ideal (<= 1.0)", &e2e, "x", 1.0, 3);
            line("  end-to-end wall clock / ideal", &e2e_wall, "x", 1.0, 3);
            let (r1, _, _) = stats(&raw);
            let (r3, _, _) = stats(&e2e);
            println!(
                "    messages rows/s target >= 1.0: {}; end-to-end target <= 1.0: {}",
                verdict(r1 >= 1.0),
                verdict(r3 <= 1.0)
            );
            ratios[&v.name] = json!({
                "messages_rows_per_sec_vs_server_copy": stats_json(&raw),
                "messages_phase_vs_server_copy_of_its_tables": stats_json(&phase),
                "end_to_end_vs_ideal": stats_json(&e2e),
                "end_to_end_wall_vs_ideal": stats_json(&e2e_wall),
            });
        }
        out["ideal"] = json!({
            "total_ms": stats_json(&ideal_total),
            "copy_all_ms": stats_json(&copy_all),
            "copy_messages_phase_tables_ms": stats_json(&msg_children),
            "copy_ms": Table::ALL.iter().map(|t| (t.name().to_string(), stats_json(&col(&|r| r.copy_ms[t.name()])))).collect::<serde_json::Map<_, _>>(),
            "indexes_ms": stats_json(&col(&|r| r.indexes_ms)),
            "foreign_keys_ms": stats_json(&col(&|r| r.foreign_keys_ms)),
            "analyze_ms": stats_json(&col(&|r| r.analyze_ms)),
            "builds_ms_first_run": ideal_runs[0].builds.iter().map(|(n, ms)| json!([n, ms])).collect::<Vec<_>>(),
        });
        out["messages_reference"] = json!({
            "rows": messages_rows,
            "elapsed_ms": stats_json(&ref_ms),
            "rows_per_sec": stats_json(&ref_rps),
        });
        let _ = (ref_med, ideal_med, mc_med);
    }
    if let Some(g) = out["generation"].get("workers_1") {
        let w1 = f(g, &["messages_per_sec_per_core", "median"]);
        let w2 = f(
            &out["generation"]["workers_2"],
            &["messages_per_sec_per_core", "median"],
        );
        println!(
            "generation + encoding alone ({} messages, generate --discard)",
            o.gen_messages
        );
        for w in [1, 2] {
            let g = &out["generation"][format!("workers_{w}")];
            let runs: Vec<f64> = g["messages_per_sec_per_core"]["runs"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            line(
                &format!("  messages/s per core, {w} worker(s) (>= 2,000,000)"),
                &runs,
                "msg/s",
                1.0,
                0,
            );
        }
        println!(
            "    target >= 2,000,000/core: 1 worker {}, 2 workers {}",
            verdict(w1 >= 2e6),
            verdict(w2 >= 2e6)
        );
        ratios["generation_messages_per_sec_per_core"] =
            json!({ "workers_1": w1, "workers_2": w2 });
    }
    let (dev_wall, _, _) = stats(&base.wall_s);
    let old_s = OLD_GENERATOR_S * messages_rows / OLD_GENERATOR_MESSAGES;
    println!(
        "old ORM generator: {:.0} s for {:.0} messages (830 msg/s, tables only) vs chatsynth end-to-end {:.1} s with every index and constraint: {:.0}x",
        old_s, messages_rows, dev_wall, old_s / dev_wall
    );
    ratios["vs_old_generator"] =
        json!({ "old_s": old_s, "chatsynth_wall_s": dev_wall, "speedup": old_s / dev_wall });
    if let Some(s) = &scale {
        let (base_rps, _, _) = stats(&base.messages_rps);
        let (base_rss, _, _) = stats(&base.peak_rss_mb);
        let rps = s.messages_rps[0];
        let rss = s.peak_rss_mb[0];
        println!("scale: {}", o.scale_args.join(" "));
        line("  end-to-end wall clock", &s.wall_s, "s", 1.0, 1);
        line("  load phases", &s.load_phases_ms, "s", 1e-3, 1);
        line("  indexes (all)", &s.indexes_ms, "s", 1e-3, 1);
        line("  foreign keys (all)", &s.fks_ms, "s", 1e-3, 1);
        line("  ANALYZE", &s.analyze_ms, "s", 1e-3, 1);
        line("  messages rows/s", &s.messages_rps, "rows/s", 1.0, 0);
        line("  peak RSS", &s.peak_rss_mb, "MB", 1.0, 0);
        let rr = rps / base_rps;
        let rss_ok = rss <= base_rss * 1.10 && rss < 256.0;
        println!(
            "    messages rows/s {:.2}x the band's (>= 0.8: {}); peak RSS {:.0} MB vs {:.0} MB (within 10% and < 256 MB: {})",
            rr, verdict(rr >= 0.8), rss, base_rss, verdict(rss_ok)
        );
        ratios["scale"] = json!({ "messages_rows_per_sec_vs_band": rr, "peak_rss_mb": rss, "band_peak_rss_mb": base_rss, "rss_within_10pct_and_under_256mb": rss_ok });
        out["scale"] = s.json();
        out["scale"]["args"] = json!(o.scale_args);
    }
    out["loads"] = Value::Object(
        o.variants
            .iter()
            .zip(&series)
            .map(|(v, s)| (v.name.clone(), s.json()))
            .collect(),
    );
    out["ratios"] = ratios;
    out["finished_at"] = json!(utc_stamp());
    std::fs::create_dir_all(reports_dir)?;
    Ok(out)
}

/// Disk the scale run needs on the server: ~2.5 GB per million messages
/// (tables ~1.2 GB, indexes and sort files the rest, measured at 20M).
const SCALE_GB_PER_MILLION_MESSAGES: f64 = 2.5;

/// Refuses the scale run when the server's data directory (a local server)
/// lacks the room, instead of filling a shared disk.
async fn scale_preflight(url: &str, scale_args: &[String]) -> R<()> {
    let messages: f64 = scale_args
        .iter()
        .position(|a| a == "--messages")
        .and_then(|i| scale_args.get(i + 1))
        .and_then(|m| m.parse().ok())
        .unwrap_or(20e6);
    let need_gb = messages / 1e6 * SCALE_GB_PER_MILLION_MESSAGES;
    let c = connect(url).await?;
    let dir: String = c.query_one("SHOW data_directory", &[]).await?.get(0);
    let cdir = std::ffi::CString::new(dir.clone())?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a zeroed out-struct.
    if unsafe { libc::statvfs(cdir.as_ptr(), &mut st) } != 0 {
        return Err(format!("cannot check free space of {dir} (is the server local?)").into());
    }
    let free_gb = st.f_bavail as f64 * st.f_frsize as f64 / 1e9;
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

#[tokio::main]
async fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let admin = match connect(&o.url).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let mut sc = Scratch {
        admin,
        url: o.url.clone(),
        made: vec![],
    };
    let reports_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reports");
    let result = tokio::select! {
        r = run(&o, &mut sc, &reports_dir) => r,
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
    };
    sc.drop_all().await;
    let _ = &sc.url;
    let _ = std::fs::remove_dir_all(&o.work_dir);
    match result {
        Ok(v) => {
            let path = o.report.clone().unwrap_or_else(|| {
                reports_dir.join(format!("bench-{}-{}.json", o.band, utc_stamp()))
            });
            match chatsynth::util::json::write_atomic(&path, &v) {
                Ok(()) => println!("report: {}", path.display()),
                Err(e) => {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    std::process::exit(1);
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
