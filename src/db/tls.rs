//! TLS to PostgreSQL, with rustls: libpq's `sslmode`, `sslrootcert`, `sslcert`
//! and `sslkey`, read from `DATABASE_URL`.
//!
//! tokio-postgres parses `sslmode` disable / prefer / require only and has no
//! notion of certificates, so [`parse`] takes our four keys out of the URL (or
//! key=value string) before handing the rest to tokio-postgres, and keeps them
//! in a [`MakeTls`]: the connector the pool, the LISTEN connections and the
//! migrations all connect with. The modes mean what they mean to libpq:
//!
//! | `sslmode` | encrypted | certificate chain checked | host name checked |
//! |---|---|---|---|
//! | `disable` | no | – | – |
//! | `prefer` (default) | if the server offers it | no | no |
//! | `require` | yes | no (yes with `sslrootcert`, as libpq) | no |
//! | `verify-ca` | yes | yes | no |
//! | `verify-full` | yes | yes | yes |
//!
//! The chain is checked against `sslrootcert` (a PEM file), or the system's
//! roots when it is unset or `system`. Unix sockets never use TLS.
//!
//! Channel binding (`SCRAM-SHA-256-PLUS`) is not offered: the binding data
//! depends on the certificate's signature hash, which would need an X.509
//! parser; plain `SCRAM-SHA-256` is used over the encrypted connection.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Context as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_postgres::Socket;

/// libpq's `sslmode`, all five that matter (`allow` is not supported).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> anyhow::Result<Self> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => anyhow::bail!(
                "sslmode={other} is not supported: use disable, prefer, require, verify-ca or verify-full"
            ),
        })
    }

    /// What tokio-postgres must do before the handshake: all it decides is
    /// whether TLS is tried and whether it is required.
    fn for_tokio_postgres(self) -> tokio_postgres::config::SslMode {
        match self {
            Self::Disable => tokio_postgres::config::SslMode::Disable,
            Self::Prefer => tokio_postgres::config::SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

/// The TLS settings of a connection string that tokio-postgres does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    pub mode: SslMode,
    /// PEM file of the certificate authorities to trust; `None`: the system's roots.
    pub root_cert: Option<PathBuf>,
    /// PEM client certificate (chain) and its private key, for `cert` authentication.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// Splits a `DATABASE_URL` (URL or key=value form) into tokio-postgres's
/// settings and ours (for [`MakeTls::new`]). `sslmode` is set on the former
/// too, so a `require` that cannot be met fails instead of falling back to
/// plain text.
pub fn parse(url: &str) -> anyhow::Result<(tokio_postgres::Config, TlsOptions)> {
    let (rest, ours) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        split_url(url)
    } else {
        split_key_values(url)
    };
    let mut mode = None;
    let (mut root_cert, mut cert, mut key) = (None, None, None);
    for (name, value) in ours {
        match name.as_str() {
            "sslmode" => mode = Some(SslMode::parse(&value)?),
            "sslrootcert" if value == "system" => root_cert = None,
            "sslrootcert" => root_cert = Some(PathBuf::from(value)),
            "sslcert" => cert = Some(PathBuf::from(value)),
            "sslkey" => key = Some(PathBuf::from(value)),
            _ => unreachable!("split_* only returns our keys"),
        }
    }
    // libpq: "if a root CA file exists, sslmode=require behaves like verify-ca".
    let mode = match mode.unwrap_or(SslMode::Prefer) {
        SslMode::Require if root_cert.is_some() => SslMode::VerifyCa,
        mode => mode,
    };
    let client_cert = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => anyhow::bail!("DATABASE_URL: sslcert and sslkey go together"),
    };
    let mut config: tokio_postgres::Config = rest.parse().context("parsing DATABASE_URL")?;
    config.ssl_mode(mode.for_tokio_postgres());
    let options = TlsOptions {
        mode,
        root_cert,
        client_cert,
    };
    Ok((config, options))
}

/// The keys this module takes out of a connection string.
const OURS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// `postgres://…?a=b&sslmode=verify-full` → the URL without our keys, and them (decoded).
fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut ours = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match OURS.contains(&percent_decode(name).as_str()) {
            true => ours.push((percent_decode(name), percent_decode(value))),
            false => kept.push(pair),
        }
    }
    match kept.is_empty() {
        true => (base.to_owned(), ours),
        false => (format!("{base}?{}", kept.join("&")), ours),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `host=db sslmode=verify-full sslrootcert='/a b.pem'` → the string without our
/// keys (the others kept verbatim), and them (unquoted).
fn split_key_values(text: &str) -> (String, Vec<(String, String)>) {
    let mut kept = Vec::new();
    let mut ours = Vec::new();
    let mut chars = text.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut name = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            name.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        chars.next_if(|(_, c)| *c == '=');
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    c => value.push(c),
                }
            }
        }
        let end = chars.peek().map_or(text.len(), |&(i, _)| i);
        match OURS.contains(&name.as_str()) {
            true => ours.push((name, value)),
            false => kept.push(text[start..end].trim_end()),
        }
    }
    (kept.join(" "), ours)
}

/// The connector for tokio-postgres and deadpool: cheap to clone (one shared
/// rustls configuration).
#[derive(Clone)]
pub struct MakeTls {
    config: Arc<ClientConfig>,
    /// Where trusted roots came from, for error messages.
    roots: Arc<str>,
}

impl MakeTls {
    /// Loads the certificates `options` name (once: at start-up, not per connection).
    pub fn new(options: &TlsOptions) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let verifying = matches!(options.mode, SslMode::VerifyCa | SslMode::VerifyFull);
        let builder = if verifying {
            let roots = Arc::new(load_roots(options.root_cert.as_deref())?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .context("building the certificate verifier")?;
            match options.mode {
                SslMode::VerifyFull => builder.with_webpki_verifier(webpki),
                _ => builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyHostName(webpki))),
            }
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
        };
        let mut config = match &options.client_cert {
            Some((cert, key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .with_context(|| format!("reading sslcert {}", cert.display()))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .with_context(|| format!("reading sslkey {}", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .context("sslcert and sslkey do not make a client certificate")?
            }
            None => builder.with_no_client_auth(),
        };
        // PostgreSQL 17's direct TLS negotiation requires this ALPN; older servers ignore it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        let roots = match &options.root_cert {
            Some(path) => format!("sslrootcert {}", path.display()),
            None => "the system's root certificates".to_owned(),
        };
        Ok(Self {
            config: Arc::new(config),
            roots: roots.into(),
        })
    }

    /// For settings that carry no TLS options of ours (the embedded cluster,
    /// tests): the `sslmode` tokio-postgres parsed, without certificates.
    pub fn from_config(config: &tokio_postgres::Config) -> anyhow::Result<Self> {
        let mode = match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Disable => SslMode::Disable,
            tokio_postgres::config::SslMode::Require => SslMode::Require,
            _ => SslMode::Prefer,
        };
        Self::new(&TlsOptions {
            mode,
            root_cert: None,
            client_cert: None,
        })
    }
}

fn load_roots(path: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match path {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .with_context(|| format!("reading sslrootcert {}", path.display()))?
            {
                let cert =
                    cert.with_context(|| format!("reading sslrootcert {}", path.display()))?;
                roots
                    .add(cert)
                    .with_context(|| format!("a certificate in sslrootcert {}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    anyhow::ensure!(
        !roots.is_empty(),
        "no trusted root certificate found for sslmode=verify-ca/verify-full: set sslrootcert to your database provider's CA bundle"
    );
    Ok(roots)
}

/// `require` (and `prefer`): encrypt, but accept any certificate — what libpq
/// does in these modes. The handshake's signatures are still checked.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the host name may differ.
/// webpki checks the chain before the name, so a name error means the chain passed.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl MakeTlsConnect<Socket> for MakeTls {
    type Stream = TlsStream;
    type TlsConnect = Connect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> io::Result<Connect> {
        // Called for Unix sockets too, with an empty host: PostgreSQL never
        // offers TLS there, so the handshake below is not reached.
        let name = match host {
            "" => None,
            host => Some(ServerName::try_from(host.to_owned()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{host:?} is not a host name TLS can check"),
                )
            })?),
        };
        Ok(Connect {
            connector: tokio_rustls::TlsConnector::from(self.config.clone()),
            name,
            host: host.to_owned(),
            roots: self.roots.clone(),
        })
    }
}

/// One handshake, to `host`.
pub struct Connect {
    connector: tokio_rustls::TlsConnector,
    name: Option<ServerName<'static>>,
    host: String,
    roots: Arc<str>,
}

impl TlsConnect<Socket> for Connect {
    type Stream = TlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream>> + Send>>;

    fn connect(self, socket: Socket) -> Self::Future {
        Box::pin(async move {
            let name = self.name.ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "TLS needs a host name")
            })?;
            self.connector
                .connect(name, socket)
                .await
                .map(|stream| TlsStream(Box::new(stream)))
                .map_err(|error| explain(error, &self.host, &self.roots))
        })
    }
}

/// Turns a refused certificate into one sentence an operator can act on.
fn explain(error: io::Error, host: &str, roots: &str) -> io::Error {
    let Some(rustls::Error::InvalidCertificate(reason)) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return error;
    };
    let sentence = match reason {
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!(
                "the database server's certificate is not valid for the host name \"{host}\" (sslmode=verify-full): connect by a name the certificate lists, or use verify-ca"
            )
        }
        CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
            "the database server's certificate is not signed by a trusted authority ({roots}): point sslrootcert at the CA that issued it"
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the database server's certificate has expired".to_owned()
        }
        other => format!("the database server's certificate was refused: {other}"),
    };
    io::Error::new(io::ErrorKind::InvalidData, sentence)
}

/// An established TLS connection to PostgreSQL (boxed: the rustls state is large).
pub struct TlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl tokio_postgres::tls::TlsStream for TlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_keys_leave_a_url_and_the_rest_stays() {
        let (rest, ours) = split_url(
            "postgres://u:p@db.example.com:6432/chat?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Frds.pem",
        );
        assert_eq!(
            rest,
            "postgres://u:p@db.example.com:6432/chat?application_name=x"
        );
        assert_eq!(
            ours,
            [
                ("sslmode".to_owned(), "verify-full".to_owned()),
                ("sslrootcert".to_owned(), "/etc/rds.pem".to_owned())
            ]
        );
    }

    #[test]
    fn our_keys_leave_a_key_value_string_quoted_or_not() {
        let (rest, ours) = split_key_values(
            "host=db port=5432 sslmode = verify-ca sslrootcert='/a b\\'c.pem' password='x y'",
        );
        assert_eq!(rest, "host=db port=5432 password='x y'");
        assert_eq!(
            ours,
            [
                ("sslmode".to_owned(), "verify-ca".to_owned()),
                ("sslrootcert".to_owned(), "/a b'c.pem".to_owned())
            ]
        );
    }

    #[test]
    fn tokio_postgres_is_told_to_require_tls_in_the_verifying_modes() {
        let (config, _) = parse("postgres://u@127.0.0.1/chat?sslmode=require").unwrap();
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        let (config, _) = parse("host=127.0.0.1 user=u sslmode=disable").unwrap();
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
        let error = parse("postgres://u@h/chat?sslmode=allow").err().unwrap();
        assert!(format!("{error:#}").contains("sslmode=allow is not supported"));
        let error = parse("postgres://u@h/chat?sslmode=require&sslcert=/c.pem")
            .err()
            .unwrap();
        assert!(format!("{error:#}").contains("sslcert and sslkey go together"));
    }
}
