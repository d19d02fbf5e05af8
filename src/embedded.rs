//! The private PostgreSQL cluster: chatsynth's default target when neither
//! `--database-url` nor `DATABASE_URL` is given.
//!
//! It sits before the whole flow: `main` asks [`ensure_running`] for a URL and
//! then loads into it like into any other server. The cluster is built from the
//! PostgreSQL server binaries already installed on the machine (`CHATSYNTH_PG_BIN`,
//! else `PATH`, else the usual install directories, newest first) and lives in
//! `.chatsynth/` under the current directory (or under `CHATSYNTH_HOME`):
//!
//! ```text
//! .chatsynth/
//!   pgdata/        the data directory (initdb -U postgres --auth=trust)
//!   run/           the unix socket directory, so it never meets the system server's
//!   postgres.log   the server log (its tail is quoted in errors)
//!   state.json     the port and major version last used
//!   lock           flock'ed around init/start/stop, so concurrent runs don't race
//! ```
//!
//! The server listens on 127.0.0.1 only, on the recorded port while it is free,
//! else on a fresh free port. It is left running; `chatsynth db stop` stops it.
//! PostgreSQL refuses to run as root, so as root its tools run as the owner of
//! the data directory, or as the `postgres` system user for a new cluster.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::{geteuid, Pid, User};
use serde::{Deserialize, Serialize};
use tokio_postgres::NoTls;

use crate::error::{Error, Result};

/// The database chatsynth loads into.
const DB_NAME: &str = "chatsynth";
/// The superuser initdb creates (`-U`).
const SUPERUSER: &str = "postgres";
/// Lines of the server log quoted in an error.
const LOG_TAIL_LINES: usize = 15;

/// Settings for a disposable, single-user bulk-load cluster; written once to
/// `postgresql.conf` after initdb. the README section on the private cluster says why each one. fsync and
/// full_page_writes stay on: a crash loses at most the last unflushed commits
/// (synchronous_commit off), never the cluster.
const SETTINGS: &[(&str, &str)] = &[
    ("listen_addresses", "'127.0.0.1'"),
    ("max_connections", "50"),
    ("shared_buffers", "'256MB'"),
    ("maintenance_work_mem", "'512MB'"),
    ("max_wal_size", "'4GB'"),
    ("checkpoint_timeout", "'30min'"),
    ("synchronous_commit", "off"),
    ("wal_level", "minimal"),
    ("max_wal_senders", "0"),
];

/// Written on every start (the port and the socket path may change), included
/// last from `postgresql.conf`.
const START_CONF: &str = "chatsynth.conf";

fn err(msg: impl Into<String>) -> Error {
    Error::Embedded(msg.into())
}

/// Starts (or reuses) the private cluster and returns its connection URL.
pub async fn ensure_running() -> Result<String> {
    let layout = Layout::resolve()?;
    let bin = find_bins(layout.cluster_major())?;
    let user = run_as(&layout)?;
    layout.prepare(user.as_ref(), &bin)?;
    let _lock = lock(&layout).await?;

    let port = match liveness(&layout).await {
        Liveness::Running(port) => port,
        Liveness::Unresponsive { pid, port, reason } => {
            return Err(err(format!(
                "the private PostgreSQL cluster in {} (pid {pid}) is running but does not accept connections on 127.0.0.1:{port} ({reason}); stop it with `chatsynth db stop` and retry{}",
                layout.show("pgdata"),
                layout.log_tail()
            )))
        }
        Liveness::Stopped => {
            if !layout.initialised() {
                init(&layout, &bin, user.as_ref()).await?;
            }
            start(&layout, &bin, user.as_ref()).await?
        }
    };
    write_state(
        &layout,
        &State {
            port,
            pg_major: bin.major,
        },
    )?;
    ensure_database(port).await?;
    let url = url(port, DB_NAME);
    crate::progress::note(&format!(
        "private PostgreSQL {} cluster running in {} (log: {}); connect with: psql {url} ; stop it with: chatsynth db stop",
        bin.major,
        layout.show("pgdata"),
        layout.show("postgres.log"),
    ));
    Ok(url)
}

/// The private cluster's data directory (whether or not it exists yet).
pub fn data_dir() -> Result<PathBuf> {
    Ok(Layout::resolve()?.pgdata)
}

/// Stops the private cluster (a no-op when it is not running).
pub async fn stop() -> Result<()> {
    let layout = Layout::resolve()?;
    if !layout.initialised() {
        crate::progress::note(&format!(
            "no private cluster in {}: nothing to stop",
            layout.show("pgdata")
        ));
        return Ok(());
    }
    let _lock = lock(&layout).await?;
    if postmaster_pid(&layout.pgdata).is_none_or(|(pid, _)| !pid_alive(pid)) {
        crate::progress::note(&format!(
            "the private cluster in {} is not running",
            layout.show("pgdata")
        ));
        return Ok(());
    }
    let bin = find_bins(layout.cluster_major())?;
    let user = run_as(&layout)?;
    let mut cmd = pg_cmd(&bin, "pg_ctl", user.as_ref(), &layout);
    cmd.args(["stop", "-m", "fast", "-w", "-t", "60", "-D"])
        .arg(&layout.pgdata);
    let out = run(cmd, "pg_ctl stop").await?;
    if !out.status.success() {
        return Err(err(format!(
            "could not stop the private cluster in {} ({}){}",
            layout.show("pgdata"),
            last_line(&out),
            layout.log_tail()
        )));
    }
    crate::progress::note(&format!(
        "stopped the private cluster in {}",
        layout.show("pgdata")
    ));
    Ok(())
}

/// Prints the private cluster's state (and URL when it runs) on stdout.
pub async fn status() -> Result<()> {
    let layout = Layout::resolve()?;
    if !layout.initialised() {
        println!(
            "stopped: no private cluster has been created in {} yet (`chatsynth db start` creates one)",
            layout.show("pgdata")
        );
        return Ok(());
    }
    match liveness(&layout).await {
        Liveness::Running(port) => println!(
            "running: {} (data: {}, log: {})",
            url(port, DB_NAME),
            layout.show("pgdata"),
            layout.show("postgres.log")
        ),
        Liveness::Stopped => println!(
            "stopped: private cluster in {} (`chatsynth db start` starts it)",
            layout.show("pgdata")
        ),
        Liveness::Unresponsive { pid, port, reason } => println!(
            "unresponsive: pid {pid} runs but 127.0.0.1:{port} does not accept connections ({reason}); see {}",
            layout.show("postgres.log")
        ),
    }
    Ok(())
}

fn url(port: u16, db: &str) -> String {
    format!("postgres://{SUPERUSER}@127.0.0.1:{port}/{db}")
}

// ---------------------------------------------------------------------------
// Layout and state

struct Layout {
    /// `.chatsynth/`, absolute.
    home: PathBuf,
    pgdata: PathBuf,
    sockets: PathBuf,
    log: PathBuf,
    /// How to show `home` to the user: relative to the current directory when inside it.
    shown: String,
}

impl Layout {
    fn resolve() -> Result<Layout> {
        let cwd = std::env::current_dir()
            .map_err(|e| err(format!("cannot read the current directory: {e}")))?;
        let base = match std::env::var_os("CHATSYNTH_HOME") {
            Some(h) if !h.is_empty() => cwd.join(h),
            _ => cwd.clone(),
        };
        let mut home = base.join(".chatsynth");
        // As root, PostgreSQL runs as another user, who may not be able to reach
        // the project folder (a clone under /root, say). Then the cluster lives
        // in a folder of its own under /var/tmp, derived from the project path
        // so every later command finds it again.
        let explicit = std::env::var_os("CHATSYNTH_HOME").is_some_and(|h| !h.is_empty());
        if geteuid().is_root() && !explicit && first_untraversable(&home).is_some() {
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(cwd.as_os_str().as_encoded_bytes());
            let tag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            let fallback = PathBuf::from("/var/tmp").join(format!("chatsynth-{tag}"));
            crate::progress::note(&format!(
                "note: the 'postgres' user cannot reach {} (a parent folder is not traversable), so the private cluster lives in {} instead",
                home.display(),
                fallback.display()
            ));
            home = fallback;
        }
        let shown = match home.strip_prefix(&cwd) {
            Ok(rel) => rel.display().to_string(),
            Err(_) => home.display().to_string(),
        };
        Ok(Layout {
            pgdata: home.join("pgdata"),
            sockets: home.join("run"),
            log: home.join("postgres.log"),
            home,
            shown,
        })
    }

    fn show(&self, child: &str) -> String {
        format!("{}/{child}", self.shown)
    }

    fn initialised(&self) -> bool {
        self.pgdata.join("PG_VERSION").is_file()
    }

    /// The major version the existing data directory was created by.
    fn cluster_major(&self) -> Option<u32> {
        let v = fs::read_to_string(self.pgdata.join("PG_VERSION")).ok()?;
        v.trim().parse().ok()
    }

    /// Creates `.chatsynth/` and `run/`, hands them to the user the server runs
    /// as, and checks that user can actually reach them.
    fn prepare(&self, user: Option<&RunAs>, bin: &PgBin) -> Result<()> {
        for dir in [&self.home, &self.sockets] {
            fs::create_dir_all(dir)
                .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
            if let Some(u) = user {
                std::os::unix::fs::chown(dir, Some(u.uid), Some(u.gid)).map_err(|e| {
                    err(format!("cannot hand {} to {}: {e}", dir.display(), u.name))
                })?;
            }
        }
        let Some(u) = user else { return Ok(()) };
        // The exact test: start a process as that user inside `.chatsynth/`.
        // chdir happens after setuid, so this covers every parent directory,
        // group memberships included.
        let probe = Command::new(bin.dir.join("postgres"))
            .arg("--version")
            .current_dir(&self.home)
            .uid(u.uid)
            .gid(u.gid)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match probe {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                let blocker = first_untraversable(&self.home)
                    .map(|p| format!(" (e.g. `chmod o+x {}`)", p.display()))
                    .unwrap_or_default();
                Err(err(format!(
                    "chatsynth runs as root, so it runs PostgreSQL as {}, who cannot reach {}: make every parent directory traversable{blocker}, or set CHATSYNTH_HOME to a directory it can reach, or run chatsynth as a non-root user, or pass --database-url",
                    u.name,
                    self.home.display()
                )))
            }
            Err(e) => Err(err(format!(
                "cannot run {} as {}: {e}",
                bin.dir.join("postgres").display(),
                u.name
            ))),
        }
    }
}

/// The first ancestor of `dir` that others cannot traverse (a hint for the error).
fn first_untraversable(dir: &Path) -> Option<PathBuf> {
    let mut ancestors: Vec<&Path> = dir.ancestors().skip(1).collect();
    ancestors.reverse();
    ancestors.into_iter().find_map(|p| {
        let mode = fs::metadata(p).ok()?.mode();
        (mode & 0o001 == 0).then(|| p.to_path_buf())
    })
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct State {
    port: u16,
    pg_major: u32,
}

fn read_state(layout: &Layout) -> Option<State> {
    let text = fs::read_to_string(layout.home.join("state.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_state(layout: &Layout, state: &State) -> Result<()> {
    let path = layout.home.join("state.json");
    crate::util::json::write_atomic(&path, state)
        .map_err(|e| err(format!("cannot write {}: {e}", path.display())))
}

impl Layout {
    /// "; last lines of <log>:\n..." or nothing when there is no log yet.
    fn log_tail(&self) -> String {
        match fs::read_to_string(&self.log) {
            Ok(text) if !text.trim().is_empty() => format!(
                "; last lines of {}:\n{}",
                self.show("postgres.log"),
                tail(&text, LOG_TAIL_LINES)
            ),
            _ => String::new(),
        }
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ---------------------------------------------------------------------------
// Binaries and the user they run as

struct PgBin {
    dir: PathBuf,
    major: u32,
}

const SERVER_TOOLS: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

fn has_server_tools(dir: &Path) -> bool {
    SERVER_TOOLS.iter().all(|t| dir.join(t).is_file())
}

/// Candidate directories, best first: `CHATSYNTH_PG_BIN` alone when set; else
/// `PATH` in order, then the usual install directories, newest version first.
fn candidate_dirs() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os("CHATSYNTH_PG_BIN").filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let mut installed: Vec<(u32, PathBuf)> = Vec::new();
    // Debian/Ubuntu, RHEL (PGDG), Homebrew (Apple silicon, Intel).
    for (parent, prefix) in [
        ("/usr/lib/postgresql", ""),
        ("/usr", "pgsql-"),
        ("/opt/homebrew/opt", "postgresql@"),
        ("/usr/local/opt", "postgresql@"),
    ] {
        let Ok(entries) = fs::read_dir(parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(major) = name.strip_prefix(prefix).and_then(leading_number) {
                installed.push((major, entry.path().join("bin")));
            }
        }
    }
    installed.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    dirs.extend(installed.into_iter().map(|(_, d)| d));
    dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
    dirs
}

fn leading_number(s: &str) -> Option<u32> {
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// "postgres (PostgreSQL) 15.8 (Debian 15.8-1.pgdg120+1)" -> 15.
fn parse_major(version_output: &str) -> Option<u32> {
    let rest = version_output.split("(PostgreSQL)").nth(1)?;
    leading_number(rest.trim_start())
}

fn server_major(dir: &Path) -> Option<u32> {
    let out = Command::new(dir.join("postgres"))
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    parse_major(&String::from_utf8_lossy(&out.stdout))
}

/// The server binaries to use; `required` is the existing cluster's major version.
fn find_bins(required: Option<u32>) -> Result<PgBin> {
    let mut found: Vec<PgBin> = Vec::new();
    for dir in candidate_dirs() {
        if !has_server_tools(&dir) || found.iter().any(|b| same_file(&b.dir, &dir)) {
            continue;
        }
        if let Some(major) = server_major(&dir) {
            if required.is_none_or(|r| r == major) {
                return Ok(PgBin { dir, major });
            }
            found.push(PgBin { dir, major });
        }
    }
    let install = "install them (e.g. `apt-get install postgresql`, `dnf install postgresql-server` or `brew install postgresql`) or pass --database-url (or set DATABASE_URL) to use an existing server";
    match (required, found.first()) {
        (Some(r), Some(other)) => Err(err(format!(
            "the private cluster in .chatsynth/pgdata was created by PostgreSQL {r}, but only PostgreSQL {} server binaries were found ({}): install PostgreSQL {r}, or delete the disposable .chatsynth/ directory to start over, or pass --database-url",
            other.major,
            other.dir.display()
        ))),
        _ => {
            let place = match std::env::var_os("CHATSYNTH_PG_BIN").filter(|d| !d.is_empty()) {
                Some(d) => format!("in CHATSYNTH_PG_BIN={}", PathBuf::from(d).display()),
                None => "on PATH or in /usr/lib/postgresql/*/bin".to_string(),
            };
            Err(err(format!(
                "no database URL was given and no PostgreSQL server binaries (initdb, pg_ctl, postgres) were found {place} to start a private cluster: {install}"
            )))
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Who the PostgreSQL tools run as when chatsynth is root.
struct RunAs {
    uid: u32,
    gid: u32,
    /// For messages: "the 'postgres' user".
    name: String,
}

/// `None`: run as ourselves. As root: the data directory's owner if it exists,
/// else the `postgres` system user.
fn run_as(layout: &Layout) -> Result<Option<RunAs>> {
    if !geteuid().is_root() {
        return Ok(None);
    }
    if let Ok(meta) = fs::metadata(&layout.pgdata) {
        if meta.uid() != 0 {
            return Ok(Some(RunAs {
                uid: meta.uid(),
                gid: meta.gid(),
                name: format!("the data directory's owner (uid {})", meta.uid()),
            }));
        }
    }
    match lookup_user(SUPERUSER) {
        Some((uid, gid)) => Ok(Some(RunAs {
            uid,
            gid,
            name: format!("the '{SUPERUSER}' user"),
        })),
        None => Err(err(
            "chatsynth runs as root, PostgreSQL refuses to run as root, and there is no 'postgres' system user to run it as: run chatsynth as a non-root user, or pass --database-url",
        )),
    }
}

/// (uid, gid) of the system user `name`, from the password database.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let user = User::from_name(name).ok()??;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

/// A PostgreSQL tool as a command: as the right user, from inside `.chatsynth/`
/// (the invoking directory may be unreadable to that user), in its own process
/// group (Ctrl-C on chatsynth must not stop the server), with a C locale.
fn pg_cmd(bin: &PgBin, tool: &str, user: Option<&RunAs>, layout: &Layout) -> Command {
    let mut cmd = Command::new(bin.dir.join(tool));
    cmd.current_dir(&layout.home)
        .env("LC_ALL", "C")
        .env_remove("PGDATA")
        .env_remove("PGPORT")
        .env_remove("PGHOST")
        .stdin(Stdio::null())
        .process_group(0);
    if let Some(u) = user {
        cmd.uid(u.uid).gid(u.gid);
    }
    cmd
}

async fn run(cmd: Command, what: &str) -> Result<Output> {
    tokio::process::Command::from(cmd)
        .output()
        .await
        .map_err(|e| err(format!("cannot run {what}: {e}")))
}

/// pg_ctl's own complaint ("pg_ctl: could not start server"), else its last line.
fn last_line(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let last = lines.clone().next_back().unwrap_or("no output");
    lines
        .rfind(|l| l.starts_with("pg_ctl:"))
        .unwrap_or(last)
        .to_string()
}

// ---------------------------------------------------------------------------
// Lock, liveness, init, start

/// Holds the exclusive lock (`File::lock`, flock on Unix) on `.chatsynth/lock` until dropped.
struct Lock(#[allow(dead_code)] File);

async fn lock(layout: &Layout) -> Result<Lock> {
    let path = layout.home.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| err(format!("cannot open the lock file {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => return Ok(Lock(file)),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(err(format!("cannot lock {}: {e}", path.display())))
        }
    }
    crate::progress::note("waiting for another chatsynth to finish with the private cluster ...");
    // Blocks this pool thread only.
    tokio::task::spawn_blocking(move || file.lock().map(|()| Lock(file)))
        .await
        .map_err(|e| err(format!("cannot wait for the lock file: {e}")))?
        .map_err(|e| err(format!("cannot lock {}: {e}", path.display())))
}

enum Liveness {
    Stopped,
    Running(u16),
    Unresponsive { pid: i32, port: u16, reason: String },
}

/// (pid, port) from `postmaster.pid` (lines 1 and 4).
fn postmaster_pid(pgdata: &Path) -> Option<(i32, Option<u16>)> {
    parse_postmaster_pid(&fs::read_to_string(pgdata.join("postmaster.pid")).ok()?)
}

fn parse_postmaster_pid(text: &str) -> Option<(i32, Option<u16>)> {
    let mut lines = text.lines();
    let pid: i32 = lines.next()?.trim().parse().ok()?;
    let port = lines.nth(2).and_then(|l| l.trim().parse().ok());
    (pid > 0).then_some((pid, port))
}

/// Is `pid` a live process that could be our postmaster? After a container
/// restart a stale pid may belong to something else: /proc tells (on Linux).
fn pid_alive(pid: i32) -> bool {
    // No signal: only checks that the process exists (EPERM: it does, as another user's).
    let exists = matches!(kill(Pid::from_raw(pid), None), Ok(()) | Err(Errno::EPERM));
    if !exists {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) => matches!(comm.trim(), "postgres" | "postmaster"),
        Err(_) => true,
    }
}

async fn accepts(port: u16) -> std::result::Result<(), String> {
    let target = url(port, "postgres");
    let connect = tokio_postgres::connect(&target, NoTls);
    let (client, conn) = match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(crate::error::pg_message(&e)),
        Err(_) => return Err("connection timed out".into()),
    };
    let task = tokio::spawn(conn);
    let result = client
        .simple_query("SELECT 1")
        .await
        .map(|_| ())
        .map_err(|e| crate::error::pg_message(&e));
    drop(client);
    let _ = task.await;
    result
}

async fn liveness(layout: &Layout) -> Liveness {
    let Some((pid, port)) = postmaster_pid(&layout.pgdata) else {
        return Liveness::Stopped;
    };
    if !pid_alive(pid) {
        return Liveness::Stopped;
    }
    let Some(port) = port else {
        // The pid file is written in steps: give a starting server a moment.
        tokio::time::sleep(Duration::from_millis(500)).await;
        return match postmaster_pid(&layout.pgdata) {
            Some((p, Some(port))) if p == pid => probe(pid, port).await,
            _ => Liveness::Stopped,
        };
    };
    probe(pid, port).await
}

/// A live postmaster may still be recovering: retry for a few seconds.
async fn probe(pid: i32, port: u16) -> Liveness {
    let mut reason = String::new();
    for attempt in 0..10 {
        match accepts(port).await {
            Ok(()) => return Liveness::Running(port),
            Err(e) => reason = e,
        }
        if attempt < 9 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if !pid_alive(pid) {
            return Liveness::Stopped;
        }
    }
    Liveness::Unresponsive { pid, port, reason }
}

async fn init(layout: &Layout, bin: &PgBin, user: Option<&RunAs>) -> Result<()> {
    crate::progress::note(&format!(
        "initialising a private PostgreSQL cluster in {} (PostgreSQL {}) ...",
        layout.show("pgdata"),
        bin.major
    ));
    if layout.pgdata.exists() {
        // No PG_VERSION: what is there is the leftover of an interrupted initdb.
        fs::remove_dir_all(&layout.pgdata).map_err(|e| {
            err(format!(
                "cannot remove the half-initialised {}: {e}",
                layout.pgdata.display()
            ))
        })?;
    }
    let mut cmd = pg_cmd(bin, "initdb", user, layout);
    cmd.arg("-D").arg(&layout.pgdata).args([
        "-U",
        SUPERUSER,
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C",
    ]);
    let out = run(cmd, "initdb").await?;
    if !out.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return Err(err(format!(
            "initdb failed to create the private cluster in {}; its last lines:\n{}",
            layout.show("pgdata"),
            tail(&text, LOG_TAIL_LINES)
        )));
    }
    let conf = layout.pgdata.join("postgresql.conf");
    OpenOptions::new()
        .append(true)
        .open(&conf)
        .and_then(|mut f| f.write_all(settings_block().as_bytes()))
        .map_err(|e| err(format!("cannot write {}: {e}", conf.display())))
}

fn settings_block() -> String {
    let mut s = String::from(
        "\n# --- chatsynth: a disposable bulk-load dev cluster (see the chatsynth README) ---\n",
    );
    for (k, v) in SETTINGS {
        s.push_str(&format!("{k} = {v}\n"));
    }
    s.push_str(&format!("include_if_exists = '{START_CONF}'\n"));
    s
}

/// `sun_path` holds 108 bytes; longer socket paths make the server refuse to start.
const MAX_SOCKET_PATH: usize = 107;

fn start_conf(port: u16, sockets: &Path) -> String {
    let dir = sockets.display().to_string();
    // Socket file: "<dir>/.s.PGSQL.<port>". Without room, go TCP-only.
    let dir = if dir.len() + ".s.PGSQL.".len() + 6 > MAX_SOCKET_PATH {
        String::new()
    } else {
        dir
    };
    format!(
        "# written by chatsynth on every start\nport = {port}\nunix_socket_directories = '{}'\n",
        dir.replace('\'', "''")
    )
}

fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn free_port() -> Result<u16> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| err(format!("cannot find a free TCP port on 127.0.0.1: {e}")))
}

/// Starts the stopped cluster on the recorded port if free, else a fresh one;
/// retries once on a fresh port if the chosen one was taken meanwhile.
async fn start(layout: &Layout, bin: &PgBin, user: Option<&RunAs>) -> Result<u16> {
    let recorded = read_state(layout).map(|s| s.port);
    let mut port = match recorded {
        Some(p) if port_free(p) => p,
        _ => free_port()?,
    };
    for attempt in 0..2 {
        let conf = layout.pgdata.join(START_CONF);
        fs::write(&conf, start_conf(port, &layout.sockets))
            .map_err(|e| err(format!("cannot write {}: {e}", conf.display())))?;
        if let Some(u) = user {
            let _ = std::os::unix::fs::chown(&conf, Some(u.uid), Some(u.gid));
        }
        let mut cmd = pg_cmd(bin, "pg_ctl", user, layout);
        cmd.args(["start", "-w", "-t", "120", "-D"])
            .arg(&layout.pgdata)
            .arg("-l")
            .arg(&layout.log);
        let out = run(cmd, "pg_ctl start").await?;
        if out.status.success() {
            return Ok(port);
        }
        if attempt == 0 && !port_free(port) {
            port = free_port()?;
            continue;
        }
        return Err(err(format!(
            "the private PostgreSQL cluster in {} did not start on 127.0.0.1:{port} ({}){}",
            layout.show("pgdata"),
            last_line(&out),
            layout.log_tail()
        )));
    }
    unreachable!("the loop returns on its second attempt")
}

/// Creates the `chatsynth` database if missing.
async fn ensure_database(port: u16) -> Result<()> {
    let target = url(port, "postgres");
    let (client, conn) = tokio_postgres::connect(&target, NoTls).await.map_err(|e| {
        err(format!(
            "cannot connect to the private cluster at {target}: {}",
            crate::error::pg_message(&e)
        ))
    })?;
    let task = tokio::spawn(conn);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DB_NAME])
        .await
        .map_err(|e| {
            err(format!(
                "cannot list the private cluster's databases: {}",
                crate::error::pg_message(&e)
            ))
        })?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!(
                "CREATE DATABASE {}",
                crate::db::quote_ident(DB_NAME)
            ))
            .await
            .map_err(|e| {
                err(format!(
                    "cannot create the {DB_NAME} database in the private cluster: {}",
                    crate::error::pg_message(&e)
                ))
            })?;
    }
    drop(client);
    let _ = task.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_major_versions() {
        assert_eq!(
            parse_major("postgres (PostgreSQL) 15.8 (Debian 15.8-1.pgdg120+1)\n"),
            Some(15)
        );
        assert_eq!(parse_major("postgres (PostgreSQL) 17beta2"), Some(17));
        assert_eq!(parse_major("something else"), None);
    }

    #[test]
    fn parses_postmaster_pid() {
        let text = "4242\n/x/pgdata\n1700000000\n54321\n/x/run\n127.0.0.1\n  1 2\nready   \n";
        assert_eq!(parse_postmaster_pid(text), Some((4242, Some(54321))));
        assert_eq!(
            parse_postmaster_pid("4242\n/x/pgdata\n"),
            Some((4242, None))
        );
        assert_eq!(parse_postmaster_pid(""), None);
    }

    #[test]
    fn start_conf_quotes_and_falls_back_to_tcp_only() {
        let c = start_conf(5999, Path::new("/tmp/it's/run"));
        assert!(c.contains("port = 5999\n"));
        assert!(c.contains("unix_socket_directories = '/tmp/it''s/run'"));
        let long = PathBuf::from(format!("/{}", "d".repeat(120)));
        assert!(start_conf(5999, &long).contains("unix_socket_directories = ''"));
    }

    #[test]
    fn settings_keep_fsync_on() {
        let block = settings_block();
        assert!(block.contains("shared_buffers = '256MB'"));
        assert!(!block.contains("fsync"));
        assert!(block.ends_with("include_if_exists = 'chatsynth.conf'\n"));
    }

    #[test]
    fn tail_takes_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
