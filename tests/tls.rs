//! TLS through rustls against the real server (which serves the machine's
//! snake-oil certificate, valid for "localhost"): require encrypts without
//! checking, verify-ca checks the chain against the CA file, verify-full also
//! the host name; verify modes without a CA file are refused up front.

mod common;

use common::*;

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

#[tokio::test]
async fn sslmodes_are_enforced() {
    let db = TestDb::new("tls").await;
    let report = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("chatsynth-tls-{}.json", std::process::id()));
    let report = report.to_string_lossy().into_owned();
    let with = |mode: &str| format!("{}?sslmode={mode}", db.url);

    let o = chatsynth(&[
        "load",
        "--band",
        "tiny",
        "--database-url",
        &with("require"),
        "--report",
        &report,
    ]);
    assert!(o.status.success(), "require: {}", stderr(&o));

    let verify_ca = format!("{}&sslrootcert={SNAKEOIL}", with("verify-ca"));
    let o = chatsynth(&["validate", "--database-url", &verify_ca, "--out", &report]);
    assert_eq!(o.status.code(), Some(0), "verify-ca: {}", stderr(&o));

    let o = chatsynth(&[
        "validate",
        "--database-url",
        &with("verify-full"),
        "--ssl-root-cert",
        SNAKEOIL,
        "--out",
        &report,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not valid for name \"127.0.0.1\""),
        "{}",
        stderr(&o)
    );

    let o = chatsynth(&[
        "validate",
        "--database-url",
        &with("verify-full"),
        "--out",
        &report,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--ssl-root-cert"), "{}", stderr(&o));

    let o = chatsynth(&["validate", "--database-url", &with("sometimes")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("sslmode=sometimes"), "{}", stderr(&o));
    let _ = std::fs::remove_file(&report);
}

/// URLs with non-ASCII text and broken percent escapes: one clear error and
/// exit 2, never a panic (`%1é`, an escape cut inside a multibyte character,
/// used to panic).
#[test]
fn malformed_urls_are_refused_without_a_panic() {
    let base = common::db_url("chatsynth_no_such_db");
    let cases = [
        (format!("{base}?sslmode=x%éy"), "sslmode=x%éy"),
        (format!("{base}?sslmode=%1é"), "sslmode=%1é"),
        (format!("{base}?sslmode=%"), "sslmode=%"),
        (format!("{base}?sslmode=%G1"), "sslmode=%G1"),
        (
            format!("{base}?sslmode=%e9"),
            "sslmode in the connection URL",
        ),
        (
            format!("{base}?sslrootcert=%e9"),
            "sslrootcert in the connection URL",
        ),
        (
            "postgres://%e9@127.0.0.1/db".to_string(),
            "not a valid PostgreSQL URL",
        ),
        (
            "postgres://ü@127.0.0.1:99999/db".to_string(),
            "not a valid PostgreSQL URL",
        ),
    ];
    for (url, want) in cases {
        let o = chatsynth(&["validate", "--database-url", &url]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{url}: {err}");
        assert!(err.contains(want), "{url}: {err}");
        assert!(!err.contains("panicked"), "{url}: {err}");
    }
}
