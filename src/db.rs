//! Connections: the validated target (URL + schema), one place that opens
//! clients and pools, pins `search_path`, sets timeouts, and quotes identifiers.
//! The URL's password never leaves this module: `Target::display` is redacted.
//!
//! Every session chatsynth opens (COPY streams, index and foreign-key builds,
//! ANALYZE, validate's queries, clean) sets its own bounds
//! (`SESSION_SETTINGS`): a production-like database often carries a short
//! `statement_timeout` or `idle_in_transaction_session_timeout` for its
//! application role, which would cancel a COPY or an index build midway.
//! The values found and set are recorded in the run report. The preflight
//! refuses a read-only target (`refuse_read_only`) before anything is written.

use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::{Client, Config as PgConfig};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::tls;

use crate::error::{DbContext, Error, Result};

/// The bounds every chatsynth session sets, whatever the database, role or URL
/// carries: bulk statements run as long as the data needs (progress shows
/// they are alive; a dead client is noticed by TCP keepalives), and a lock
/// wait is bounded. Steps that mean a tighter bound set it locally (the
/// swap's lock wait, `SET LOCAL` in its transaction).
pub(crate) const SESSION_SETTINGS: [(&str, &str); 3] = [
    ("statement_timeout", "0"),
    ("idle_in_transaction_session_timeout", "0"),
    ("lock_timeout", "30s"),
];

/// Where to load: a server and a schema inside it.
#[derive(Clone)]
pub struct Target {
    pub pg: PgConfig,
    pub schema: String,
    /// `user@host:port/db`, never the password.
    pub display: String,
    tls: MakeRustlsConnect,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // tokio-postgres' Config Debug redacts the password, but keep ours explicit.
        write!(f, "Target({}, schema {})", self.display, self.schema)
    }
}

/// Refuses schema names that are not plain identifiers, so nothing hostile is
/// ever interpolated (they are quoted everywhere as well).
pub fn check_schema_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok && name.starts_with("cs_stage_") {
        Err(Error::Config(format!(
            "--schema {name:?} is not allowed: cs_stage_* schemas are chatsynth's staging schemas, dropped by the next run"
        )))
    } else if ok && !name.starts_with("pg_") {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "--schema {:?} is not allowed: use 1-48 letters, digits or underscores, starting with a letter or underscore, not starting with pg_",
            name
        )))
    }
}

/// `"ident"` with embedded quotes doubled.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `'literal'` with embedded quotes doubled (only for DDL that cannot take parameters).
pub(crate) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Target {
    /// `ssl_root_cert` (the `--ssl-root-cert` flag) wins over the URL's `sslrootcert`.
    pub fn from_url(
        url: &str,
        schema: &str,
        ssl_root_cert: Option<&std::path::Path>,
    ) -> Result<Target> {
        check_schema_name(schema)?;
        let (url, mut tls_settings) = tls::split(url)?;
        if let Some(p) = ssl_root_cert {
            tls_settings.root_cert = Some(p.to_path_buf());
        }
        let connector = tls::connector(&tls_settings)?;
        let mut pg = PgConfig::from_str(&url).map_err(|e| {
            Error::Config(format!(
                "--database-url is not a valid PostgreSQL URL ({e}); expected postgres://user@host:port/database"
            ))
        })?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(10));
        }
        pg.keepalives(true);
        pg.keepalives_idle(Duration::from_secs(10));
        if pg.get_application_name().is_none() {
            pg.application_name("chatsynth");
        }
        pg.ssl_mode(tls_settings.mode.transport());
        let display = describe(&pg);
        Ok(Target {
            pg,
            schema: schema.to_string(),
            display,
            tls: connector,
        })
    }

    pub(crate) fn with_schema(&self, schema: &str) -> Target {
        Target {
            schema: schema.to_string(),
            ..self.clone()
        }
    }

    pub(crate) fn schema_q(&self) -> String {
        quote_ident(&self.schema)
    }

    /// Opens a client with `search_path` pinned to the target schema and
    /// timeouts set; the connection task ends when the client is dropped.
    pub async fn connect(&self) -> Result<Client> {
        let (client, conn) =
            self.pg
                .connect(self.tls.clone())
                .await
                .map_err(|e| Error::Connect {
                    target: self.display.clone(),
                    source: e,
                })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.setup_session(&client).await?;
        Ok(client)
    }

    pub(crate) async fn setup_session(&self, client: &Client) -> Result<()> {
        let mut sql = format!("SET search_path TO {}, public;", self.schema_q());
        for (name, value) in SESSION_SETTINGS {
            sql.push_str(&format!(" SET {name} = {};", quote_literal(value)));
        }
        client
            .batch_execute(&sql)
            .await
            .step("setting up the session")
    }

    /// A pool of `size` connections set up like `connect`.
    pub(crate) fn pool(&self, size: usize) -> Result<deadpool_postgres::Pool> {
        let mgr_cfg = deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Verified,
        };
        let mgr =
            deadpool_postgres::Manager::from_config(self.pg.clone(), self.tls.clone(), mgr_cfg);
        deadpool_postgres::Pool::builder(mgr)
            .max_size(size.max(1))
            .build()
            .map_err(|e| Error::Other(format!("cannot build connection pool: {e}")))
    }

    /// A pooled connection with the session set up.
    pub(crate) async fn pooled(
        &self,
        pool: &deadpool_postgres::Pool,
    ) -> Result<deadpool_postgres::Object> {
        let obj = pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(source) => Error::Connect {
                target: self.display.clone(),
                source,
            },
            other => Error::Other(format!("connection pool: {other}")),
        })?;
        self.setup_session(&obj).await?;
        Ok(obj)
    }
}

/// `user@host:port/db` from a config, without the password.
pub fn describe(pg: &PgConfig) -> String {
    let host = pg
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{}:{}/{}",
        pg.get_user().unwrap_or("?"),
        host,
        port,
        pg.get_dbname().unwrap_or(pg.get_user().unwrap_or("?"))
    )
}

/// `url` pointing at database `dbname` instead: user, password, hosts and
/// ports are read by tokio-postgres (as libpq reads them) and written back
/// percent-encoded; the query parameters (`?sslmode=...`) are kept as given.
/// For tools and tests that make scratch databases on one server.
pub fn url_with_dbname(url: &str, dbname: &str) -> Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let pg = PgConfig::from_str(base)
        .map_err(|e| Error::Config(format!("not a valid PostgreSQL URL ({e})")))?;
    let mut user_info = String::new();
    if let Some(user) = pg.get_user() {
        user_info.push_str(&encode(user.as_bytes()));
        if let Some(pw) = pg.get_password() {
            user_info = format!("{user_info}:{}", encode(pw));
        }
        user_info.push('@');
    }
    let ports = pg.get_ports();
    let hosts: Vec<String> = pg
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                tokio_postgres::config::Host::Tcp(name) if name.contains(':') => {
                    format!("[{name}]")
                }
                tokio_postgres::config::Host::Tcp(name) => encode(name.as_bytes()),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => {
                    encode(path.as_os_str().as_encoded_bytes())
                }
            };
            match ports.get(i).or(ports.first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    Ok(format!(
        "postgres://{user_info}{}/{}{query}",
        hosts.join(","),
        encode(dbname.as_bytes())
    ))
}

/// Percent-encodes everything but letters, digits and `-._~`.
fn encode(bytes: &[u8]) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::percent_encode(bytes, KEEP).to_string()
}

/// The server's version string (`SHOW server_version`).
pub(crate) async fn server_version(client: &Client) -> Result<String> {
    let row = client
        .query_one("SHOW server_version", &[])
        .await
        .step("reading the server version")?;
    Ok(row.get(0))
}

/// Session settings by name: what the target carried (`found`: the server's,
/// database's, role's or URL's value) and what chatsynth's sessions ran with
/// (`set`). Values carry their unit (`300ms`, `30s`, `0`, `on`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SessionSettings {
    pub found: std::collections::BTreeMap<String, String>,
    pub set: std::collections::BTreeMap<String, String>,
}

/// What a session set up by `Target::connect` found (the value it would have
/// had: the server's, database's, role's or URL's, `pg_settings.reset_val`)
/// and what it runs with, for each of `SESSION_SETTINGS` and
/// `default_transaction_read_only`.
pub async fn session_settings(client: &Client) -> Result<SessionSettings> {
    let mut names: Vec<&str> = SESSION_SETTINGS.iter().map(|(n, _)| *n).collect();
    names.push("default_transaction_read_only");
    let rows = client
        .query(
            "SELECT name, reset_val, setting, COALESCE(unit, '') FROM pg_settings WHERE name = ANY($1) ORDER BY name",
            &[&names],
        )
        .await
        .step("reading the session settings")?;
    let mut out = SessionSettings::default();
    for r in rows {
        let name: String = r.get(0);
        let unit: String = r.get(3);
        out.found
            .insert(name.clone(), with_unit(r.get::<_, &str>(1), &unit));
        out.set.insert(name, with_unit(r.get::<_, &str>(2), &unit));
    }
    Ok(out)
}

/// A `pg_settings` value with its unit, in the largest whole unit: `0`,
/// `300ms`, `30s`, `5min`, `on`.
fn with_unit(value: &str, unit: &str) -> String {
    let Ok(n) = value.parse::<i64>() else {
        return value.to_string();
    };
    if n == 0 || unit.is_empty() {
        return n.to_string();
    }
    if unit != "ms" && unit != "s" {
        return format!("{n}{unit}");
    }
    let ms = if unit == "s" { n * 1000 } else { n };
    for (div, name) in [(3_600_000, "h"), (60_000, "min"), (1000, "s")] {
        if ms % div == 0 {
            return format!("{}{name}", ms / div);
        }
    }
    format!("{ms}ms")
}

/// Why a target cannot be written, if it cannot: `default_transaction_read_only`
/// (or `transaction_read_only` from the URL) is on, or the server is a hot
/// standby.
pub(crate) fn read_only_reason(transaction_read_only: bool, in_recovery: bool) -> Option<String> {
    if in_recovery {
        Some(
            "the target server is a hot standby (pg_is_in_recovery() is true): it cannot be written; point --database-url at the primary. Nothing was written".into(),
        )
    } else if transaction_read_only {
        Some(
            "the target database is read-only (default_transaction_read_only = on for this database, role or connection): nothing was written. Point --database-url at a writable database, or turn the setting off there".into(),
        )
    } else {
        None
    }
}

/// The preflight's first check, before the schema, the tables or the ledger
/// are touched: a read-only target or a hot standby is refused (exit 2).
pub(crate) async fn refuse_read_only(client: &Client) -> Result<()> {
    let row = client
        .query_one(
            "SELECT current_setting('transaction_read_only') = 'on', pg_is_in_recovery()",
            &[],
        )
        .await
        .step("checking whether the target is writable")?;
    match read_only_reason(row.get(0), row.get(1)) {
        Some(why) => Err(Error::Refused(why)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_print_in_their_largest_whole_unit() {
        assert_eq!(with_unit("0", "ms"), "0");
        assert_eq!(with_unit("300", "ms"), "300ms");
        assert_eq!(with_unit("30000", "ms"), "30s");
        assert_eq!(with_unit("300000", "ms"), "5min");
        assert_eq!(with_unit("7200", "s"), "2h");
        assert_eq!(with_unit("on", ""), "on");
        assert_eq!(with_unit("8", "kB"), "8kB");
    }

    #[test]
    fn a_standby_or_a_read_only_database_is_refused() {
        assert_eq!(read_only_reason(false, false), None);
        let ro = read_only_reason(true, false).unwrap();
        assert!(ro.contains("default_transaction_read_only"), "{ro}");
        // A standby is read-only too; the standby is the reason named.
        for ro_flag in [false, true] {
            let sb = read_only_reason(ro_flag, true).unwrap();
            assert!(sb.contains("hot standby"), "{sb}");
        }
    }

    #[test]
    fn hostile_schema_names_are_refused() {
        for bad in [
            "",
            "a;drop table users",
            "x\"y",
            "1abc",
            "pg_catalog",
            "cs_stage_public",
            "a b",
            "ünï",
        ] {
            assert!(check_schema_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["public", "load_test_2", "_stage"] {
            check_schema_name(good).unwrap();
        }
    }

    #[test]
    fn display_never_holds_the_password() {
        let t = Target::from_url(
            "postgres://bob:s3cret-pw@db.example:6543/chat",
            "public",
            None,
        )
        .unwrap();
        assert_eq!(t.display, "bob@db.example:6543/chat");
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[test]
    fn encoded_passwords_are_decoded_and_kept_out_of_the_display() {
        let t = Target::from_url(
            "postgres://b%C3%B6b:p%40ss%2F%C3%A9%25@db.example/ch%C3%A4t?sslmode=disable",
            "public",
            None,
        )
        .unwrap();
        assert_eq!(t.pg.get_password(), Some("p@ss/é%".as_bytes()));
        assert_eq!(t.display, "böb@db.example:5432/chät");
        assert!(!format!("{t:?}").contains("p@ss"));
        // Bytes that are not UTF-8 are fine in a password, refused in a user name.
        let t = Target::from_url("postgres://u:%e9@h/db", "public", None).unwrap();
        assert_eq!(t.pg.get_password(), Some(&[0xe9u8][..]));
        let e = Target::from_url("postgres://%e9@h/db", "public", None).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
    }

    #[test]
    fn malformed_urls_are_one_config_error_or_decoded_never_a_panic() {
        for url in [
            "postgres://u:%@h/db",
            "postgres://u:%G1@h/db",
            "postgres://u:%é@h/db",
            "postgres://u:p@h/db%",
            "postgres://u:p@h/d%e9",
            "postgres://u:p@h/db?sslmode=%",
            "postgres://u:p@h/db?sslmode=%G1",
            "postgres://u:p@h/db?sslmode=%e9",
            "postgres://u:p@h/db?sslmode=%é",
            "postgres://u:p@h/db?sslrootcert=%é%",
            "postgres://ü:p@hóst/dß?application_name=%",
            "postgres://u:p@h:notaport/db",
        ] {
            match Target::from_url(url, "public", None) {
                Ok(t) => assert!(!t.display.contains(":p@"), "{url}: {}", t.display),
                Err(Error::Config(msg)) => assert!(!msg.is_empty(), "{url}"),
                Err(other) => panic!("{url}: not a config error: {other}"),
            }
        }
    }

    #[test]
    fn url_with_dbname_swaps_only_the_database() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/scratch_1",
            ),
            ("postgresql://h", "postgres://h:5432/scratch_1"),
            (
                "postgres://u:p%2Fw%40rd@h1,h2:6000/db?sslmode=require&application_name=x",
                "postgres://u:p%2Fw%40rd@h1:5432,h2:6000/scratch_1?sslmode=require&application_name=x",
            ),
            (
                "postgres://u@[::1]:5433/db",
                "postgres://u@[::1]:5433/scratch_1",
            ),
            (
                "postgres://u@%2Fvar%2Frun%2Fpostgresql/db",
                "postgres://u@%2Fvar%2Frun%2Fpostgresql:5432/scratch_1",
            ),
            ("host=h user=u dbname=db", "postgres://u@h/scratch_1"),
        ];
        for (url, want) in cases {
            let got = url_with_dbname(url, "scratch_1").unwrap();
            assert_eq!(got, want, "{url}");
            // What we wrote reads back as the same server, user and password.
            let (a, b) = (
                PgConfig::from_str(url.split('?').next().unwrap()).unwrap(),
                PgConfig::from_str(got.split('?').next().unwrap()).unwrap(),
            );
            assert_eq!(
                (a.get_user(), a.get_password(), a.get_hosts()),
                (b.get_user(), b.get_password(), b.get_hosts())
            );
            assert_eq!(b.get_dbname(), Some("scratch_1"));
        }
        assert!(url_with_dbname("postgres://h:x/db", "d").is_err());
    }

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
