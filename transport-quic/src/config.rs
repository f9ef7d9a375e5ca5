//! [`QuicConfig`], [`QuicError`], and the rustls/quinn configurations built
//! from them.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use goldfish_core::wire;
use goldfish_core::NodeId;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use crate::ALPN;

/// [`QuicConfig::keep_alive`] unless set otherwise.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(5);
/// [`QuicConfig::idle_timeout`] unless set otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// [`QuicConfig::connect_timeout`] unless set otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// [`QuicConfig::backoff_min`] unless set otherwise.
pub const DEFAULT_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// [`QuicConfig::backoff_max`] unless set otherwise.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(10);

/// How many request streams a peer may have open on one connection at once
/// (more wait for one to finish, on the caller's side).
pub(crate) const MAX_CONCURRENT_STREAMS: u32 = 256;

/// Everything [`QuicTransport::bind`](crate::QuicTransport::bind) needs: who
/// this node is, where it listens, its credentials and its timings.
///
/// Build one with [`QuicConfig::from_pem`] or [`QuicConfig::from_files`],
/// then change the public fields that need other values than the defaults.
/// `Debug` does not print the private key.
#[derive(Clone)]
#[non_exhaustive]
pub struct QuicConfig {
    /// This node's name. Its certificate must carry it as a DNS subject
    /// alternative name.
    pub name: NodeId,
    /// The UDP address to listen on (port 0 picks a free port; see
    /// [`QuicTransport::local_addr`](crate::QuicTransport::local_addr)).
    pub listen: SocketAddr,
    /// The cluster CA certificate(s), PEM. Peers must present certificates
    /// that chain to one of them.
    pub ca_pem: Vec<u8>,
    /// This node's certificate chain, PEM, its own certificate first.
    pub cert_pem: Vec<u8>,
    /// This node's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
    /// The largest frame sent or accepted, in bytes (at most `u32::MAX`, the
    /// length prefix's range). Default [`wire::MAX_FRAME`].
    pub max_frame: usize,
    /// How often an idle connection sends a keep-alive; zero sends none.
    /// Default [`DEFAULT_KEEP_ALIVE`]. Must be shorter than the idle timeout.
    pub keep_alive: Duration,
    /// How long a connection may hear nothing from its peer before it is
    /// dropped (QUIC's max idle timeout; the smaller of both sides' wins).
    /// Default [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// The longest a connection attempt (QUIC and TLS handshake, then the
    /// `Hello` exchange) may take, on both sides. Default
    /// [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// The wait after the first failed connection attempt to a peer; it
    /// doubles with each further failure. Default [`DEFAULT_BACKOFF_MIN`].
    pub backoff_min: Duration,
    /// The longest wait between connection attempts. Default
    /// [`DEFAULT_BACKOFF_MAX`].
    pub backoff_max: Duration,
}

impl fmt::Debug for QuicConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuicConfig")
            .field("name", &self.name)
            .field("listen", &self.listen)
            .field("ca_pem", &format_args!("{} bytes", self.ca_pem.len()))
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &format_args!("<redacted>"))
            .field("max_frame", &self.max_frame)
            .field("keep_alive", &self.keep_alive)
            .field("idle_timeout", &self.idle_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("backoff_min", &self.backoff_min)
            .field("backoff_max", &self.backoff_max)
            .finish()
    }
}

impl QuicConfig {
    /// A configuration from PEM text held in memory, with default limits and
    /// timings. Nothing is parsed until [`bind`](crate::QuicTransport::bind).
    pub fn from_pem(
        name: NodeId,
        listen: SocketAddr,
        ca_pem: impl Into<Vec<u8>>,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> QuicConfig {
        QuicConfig {
            name,
            listen,
            ca_pem: ca_pem.into(),
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
            max_frame: wire::MAX_FRAME,
            keep_alive: DEFAULT_KEEP_ALIVE,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            backoff_min: DEFAULT_BACKOFF_MIN,
            backoff_max: DEFAULT_BACKOFF_MAX,
        }
    }

    /// A configuration from PEM files (as [`certs::generate`](crate::certs::generate)
    /// writes them), with default limits and timings.
    pub fn from_files(
        name: NodeId,
        listen: SocketAddr,
        ca_path: impl AsRef<Path>,
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<QuicConfig, QuicError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| QuicError::Read {
                path: p.to_owned(),
                source,
            })
        };
        Ok(QuicConfig::from_pem(
            name,
            listen,
            read(ca_path.as_ref())?,
            read(cert_path.as_ref())?,
            read(key_path.as_ref())?,
        ))
    }

    fn check(&self) -> Result<(), QuicError> {
        let bad = |s: &str| Err(QuicError::Config(s.to_owned()));
        if u32::try_from(self.max_frame).is_err() {
            return bad("max_frame is over u32::MAX, the length prefix's range");
        }
        if self.idle_timeout.is_zero() {
            return bad("idle_timeout is zero");
        }
        if !self.keep_alive.is_zero() && self.keep_alive >= self.idle_timeout {
            return bad("keep_alive must be shorter than idle_timeout");
        }
        if self.connect_timeout.is_zero() {
            return bad("connect_timeout is zero");
        }
        if self.backoff_min > self.backoff_max {
            return bad("backoff_min is over backoff_max");
        }
        Ok(())
    }
}

/// Why [`QuicTransport::bind`](crate::QuicTransport::bind) or
/// [`QuicConfig::from_files`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum QuicError {
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// PEM text holds no usable certificate or key.
    Pem {
        /// Which input: "CA certificate", "certificate chain", "private key".
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The node's own certificate does not fit the configuration: it does
    /// not chain to the CA, or is not for the node's name.
    Certificate(String),
    /// rustls refused the certificates or key.
    Tls(rustls::Error),
    /// A setting is out of range.
    Config(String),
    /// The UDP socket could not be bound.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
}

impl fmt::Display for QuicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuicError::Read { path, source } => {
                write!(f, "cannot read `{}`: {source}", path.display())
            }
            QuicError::Pem { what, reason } => write!(f, "bad {what}: {reason}"),
            QuicError::Certificate(e) => write!(f, "unusable node certificate: {e}"),
            QuicError::Tls(e) => write!(f, "TLS configuration: {e}"),
            QuicError::Config(e) => write!(f, "bad configuration: {e}"),
            QuicError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
        }
    }
}

impl std::error::Error for QuicError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QuicError::Read { source, .. } | QuicError::Bind { source, .. } => Some(source),
            QuicError::Tls(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rustls::Error> for QuicError {
    fn from(e: rustls::Error) -> Self {
        QuicError::Tls(e)
    }
}

/// The quinn configurations for both roles of an endpoint.
pub(crate) struct Endpoints {
    pub(crate) server: quinn::ServerConfig,
    pub(crate) client: quinn::ClientConfig,
}

pub(crate) fn pem_certs(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, QuicError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| QuicError::Pem {
            what,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(QuicError::Pem {
            what,
            reason: "no CERTIFICATE block".to_owned(),
        });
    }
    Ok(certs)
}

/// The rustls crypto provider: ring (no aws-lc-rs, no cmake).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses the credentials, checks that the node's certificate is usable
/// (chains to the CA, names the node, serves both roles) and builds the
/// server and client configurations: TLS 1.3 only, ALPN [`ALPN`], client
/// certificates required, no session resumption (every connection checks
/// the certificates afresh).
pub(crate) fn build(config: &QuicConfig) -> Result<Endpoints, QuicError> {
    config.check()?;
    let provider = provider();
    let roots = roots(&config.ca_pem)?;
    let chain = pem_certs(&config.cert_pem, "certificate chain")?;
    let key = PrivateKeyDer::from_pem_slice(&config.key_pem).map_err(|e| QuicError::Pem {
        what: "private key",
        reason: e.to_string(),
    })?;

    // A misconfigured node is reported here, not as refused handshakes later.
    check_node_cert(&roots, &chain, config.name).map_err(QuicError::Certificate)?;
    let client_verifier =
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| QuicError::Config(format!("client verifier: {e}")))?;

    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(chain.clone(), key.clone_key())?;
    server.alpn_protocols = vec![ALPN.to_vec()];
    server.send_tls13_tickets = 0;
    server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});

    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    client.alpn_protocols = vec![ALPN.to_vec()];
    client.resumption = rustls::client::Resumption::disabled();

    let transport = Arc::new(transport_config(config)?);
    let server = QuicServerConfig::try_from(server)
        .map_err(|e| QuicError::Config(format!("QUIC server: {e}")))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(server));
    server.transport_config(transport.clone());
    let client = QuicClientConfig::try_from(client)
        .map_err(|e| QuicError::Config(format!("QUIC client: {e}")))?;
    let mut client = quinn::ClientConfig::new(Arc::new(client));
    client.transport_config(transport);
    Ok(Endpoints { server, client })
}

/// Checks that `chain` chains to `roots` and serves as both a client and a
/// server certificate for `name`, as peers will check it.
pub(crate) fn check_node_cert(
    roots: &Arc<RootCertStore>,
    chain: &[CertificateDer<'static>],
    name: NodeId,
) -> Result<(), String> {
    let provider = provider();
    let (end_entity, intermediates) = chain.split_first().ok_or("no certificate")?;
    let now = UnixTime::now();
    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| format!("client verifier: {e}"))?
        .verify_client_cert(end_entity, intermediates, now)
        .map_err(|e| format!("as a client: {e}"))?;
    let server_name = match ServerName::try_from(name.as_str()) {
        Ok(n @ ServerName::DnsName(_)) => n,
        _ => return Err(format!("node name `{name}` is not a DNS name")),
    };
    rustls::client::WebPkiServerVerifier::builder_with_provider(roots.clone(), provider)
        .build()
        .map_err(|e| format!("server verifier: {e}"))?
        .verify_server_cert(end_entity, intermediates, &server_name, &[], now)
        .map_err(|e| format!("as a server named `{name}`: {e}"))?;
    Ok(())
}

/// Parses PEM certificates into a root store.
pub(crate) fn roots(ca_pem: &[u8]) -> Result<Arc<RootCertStore>, QuicError> {
    let mut roots = RootCertStore::empty();
    for ca in pem_certs(ca_pem, "CA certificate")? {
        roots.add(ca)?;
    }
    Ok(Arc::new(roots))
}

fn transport_config(config: &QuicConfig) -> Result<TransportConfig, QuicError> {
    let mut t = TransportConfig::default();
    let idle = IdleTimeout::try_from(config.idle_timeout)
        .map_err(|_| QuicError::Config("idle_timeout is too large".to_owned()))?;
    t.max_idle_timeout(Some(idle));
    t.keep_alive_interval((!config.keep_alive.is_zero()).then_some(config.keep_alive));
    t.max_concurrent_bidi_streams(VarInt::from_u32(MAX_CONCURRENT_STREAMS));
    // Only request streams are used: a peer may open no unidirectional ones.
    t.max_concurrent_uni_streams(VarInt::from_u32(0));
    t.datagram_receive_buffer_size(None);
    Ok(t)
}
