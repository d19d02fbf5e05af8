//! TLS for PostgreSQL connections, through rustls. `sslmode` follows libpq:
//! `disable` (plain), `prefer` (TLS when the server offers it, the default),
//! `require` (TLS, certificate not checked), `verify-ca` (the server's chain
//! must lead to the CA file) and `verify-full` (and its name must match the
//! host). tokio-postgres itself knows only disable/prefer/require, so the URL's
//! `sslmode` and `sslrootcert` are taken out here and enforced by the verifier.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(s: &str) -> Result<SslMode> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::Config(format!(
                    "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                )))
            }
        })
    }

    /// What tokio-postgres enforces itself (TLS on or off); verification is ours.
    pub(crate) fn transport(self) -> PgSslMode {
        match self {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            _ => PgSslMode::Require,
        }
    }
}

/// The TLS part of a connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
}

/// The connection parameters taken out here; everything else goes to tokio-postgres.
const OURS: [&str; 2] = ["sslmode", "sslrootcert"];

/// Splits `sslmode` and `sslrootcert` out of a URL (`?sslmode=...&...`) or a
/// key=value connection string; returns the rest for tokio-postgres.
pub fn split(conn: &str) -> Result<(String, TlsSettings)> {
    let mut settings = TlsSettings {
        mode: SslMode::Prefer,
        root_cert: None,
    };
    let rest = if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        split_url(conn, &mut settings)?
    } else {
        split_key_values(conn, &mut settings)?
    };
    Ok((rest, settings))
}

/// `postgres://...?k=v&...`: our parameters are percent-decoded and removed.
fn split_url(conn: &str, settings: &mut TlsSettings) -> Result<String> {
    let Some((base, query)) = conn.split_once('?') else {
        return Ok(conn.to_string());
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if OURS.contains(&k) {
            settings.set(k, &percent_decode(k, v)?)?;
        } else {
            kept.push(pair);
        }
    }
    Ok(if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    })
}

/// `host=h sslmode=require ...`: our parameters are removed.
fn split_key_values(conn: &str, settings: &mut TlsSettings) -> Result<String> {
    let mut kept = Vec::new();
    for part in conn.split_whitespace() {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        if OURS.contains(&k) {
            settings.set(k, v.trim_matches('\''))?;
        } else {
            kept.push(part);
        }
    }
    Ok(kept.join(" "))
}

impl TlsSettings {
    /// Sets one of [`OURS`] from its (decoded) value.
    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "sslmode" => self.mode = SslMode::parse(value)?,
            _ => self.root_cert = Some(PathBuf::from(value)),
        }
        Ok(())
    }
}

/// A URL query value, percent-decoded (`%` not followed by two hex digits is
/// kept as it is, like every URL parser does); bytes that do not form UTF-8
/// after decoding are refused with the parameter's name.
fn percent_decode(key: &str, raw: &str) -> Result<String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| {
            Error::Config(format!(
                "{key} in the connection URL is not UTF-8 after percent-decoding: {raw:?}"
            ))
        })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_roots(path: &Path) -> Result<RootCertStore> {
    let bad = |e: String| Error::Config(format!("cannot read CA file {}: {e}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let mut store = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        store
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(store)
}

/// The connector for these settings (also used for `prefer`/`disable`, where
/// tokio-postgres decides whether TLS happens at all).
pub(crate) fn connector(s: &TlsSettings) -> Result<MakeRustlsConnect> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match s.mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => {
            Arc::new(AcceptAny(provider.clone()))
        }
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let path = s.root_cert.as_deref().ok_or_else(|| {
                Error::Config(
                    "sslmode=verify-ca/verify-full needs the CA certificate: pass --ssl-root-cert FILE or sslrootcert=FILE in the URL".into(),
                )
            })?;
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(load_roots(path)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| Error::Config(format!("CA file {}: {e}", path.display())))?;
            if s.mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// `require`: encrypted, certificate not checked (libpq's meaning).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to the CA; the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_rootcert_are_split_out() {
        let (rest, s) =
            split("postgres://u:p@h:5432/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem").unwrap();
        assert_eq!(rest, "postgres://u:p@h:5432/db?application_name=x");
        assert_eq!(s.mode, SslMode::VerifyFull);
        assert_eq!(s.root_cert.as_deref(), Some(Path::new("/tmp/ca.pem")));
        let (rest, s) = split("host=h user=u sslmode=require dbname=d").unwrap();
        assert_eq!(rest, "host=h user=u dbname=d");
        assert_eq!(s.mode, SslMode::Require);
        let (rest, s) = split("postgres://h/db").unwrap();
        assert_eq!(
            (rest.as_str(), s.mode),
            ("postgres://h/db", SslMode::Prefer)
        );
        assert!(split("postgres://h/db?sslmode=bogus").is_err());
    }

    #[test]
    fn query_values_are_percent_decoded_without_panics() {
        let root = |url: &str| split(url).unwrap().1.root_cert;
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            root("postgres://h/d?sslrootcert=%2Ftmp%2F%C3%A9.pem"),
            p("/tmp/é.pem")
        );
        assert_eq!(
            root("postgres://h/d?sslrootcert=/tmp/é.pem"),
            p("/tmp/é.pem")
        );
        // A `%` without two hex digits after it stays as it is.
        assert_eq!(root("postgres://h/d?sslrootcert=%"), p("%"));
        assert_eq!(root("postgres://h/d?sslrootcert=a%2"), p("a%2"));
        assert_eq!(root("postgres://h/d?sslrootcert=%G1"), p("%G1"));
        assert_eq!(root("postgres://h/d?sslrootcert=%é%ü"), p("%é%ü"));
        // Decoded bytes that are not UTF-8: one error naming the parameter.
        let e = split("postgres://h/d?sslrootcert=%e9").unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
        assert!(e.to_string().contains("sslrootcert"), "{e}");
        let mode = |url: &str| split(url).map(|(_, s)| s.mode);
        assert_eq!(
            mode("postgres://h/d?sslmode=%72equire").unwrap(),
            SslMode::Require
        );
        for bad in ["%", "%G1", "%e9", "%é", "%1é", "r%C3%A9quire"] {
            let e = split(&format!("postgres://h/d?sslmode={bad}")).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad}: {e}");
        }
        // Other parameters are passed on untouched, for tokio-postgres to judge.
        let (rest, _) = split("postgres://h/d?application_name=%e9&sslmode=disable").unwrap();
        assert_eq!(rest, "postgres://h/d?application_name=%e9");
    }

    #[test]
    fn verify_modes_need_a_ca_file() {
        let e = connector(&TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: None,
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("--ssl-root-cert"), "{e}");
        assert!(connector(&TlsSettings {
            mode: SslMode::Require,
            root_cert: None
        })
        .is_ok());
    }
}
