//! Test helpers: a recording service, node setup, a raw quinn client that
//! speaks (or breaks) the protocol, and a tracing capture to wait on the
//! transport's warnings.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use goldfish_core::transport::{BoxFuture, Service, Transport};
use goldfish_core::wire::{self, Frame, MAX_FRAME};
use goldfish_core::NodeId;
use goldfish_transport_quic::certs::{CertKey, ClusterCerts};
use goldfish_transport_quic::{QuicConfig, QuicTransport, ALPN};
use quinn::crypto::rustls::QuicClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::{mpsc, Notify};

/// The bound on every wait in these tests: a failure guard, not a delay.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A ping with this nonce waits in the handler until [`Recorder::release`].
pub const HOLD: u64 = u64::MAX;

pub fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Awaits `fut`, failing the test if it takes longer than [`PATIENCE`].
pub async fn within<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .expect("timed out waiting")
}

/// A service that records every call, reports it on a channel, answers
/// `Ping { nonce }` with `Pong { nonce }` (after [`Recorder::release`] for
/// [`HOLD`]) and echoes anything else.
pub struct Recorder {
    calls: Mutex<Vec<(NodeId, Frame)>>,
    arrived: mpsc::UnboundedSender<(NodeId, Frame)>,
    finished: mpsc::UnboundedSender<Frame>,
    gate: Notify,
}

/// What a [`Recorder`] reports: calls as they arrive, answers as handlers
/// finish.
pub struct Events {
    pub arrived: mpsc::UnboundedReceiver<(NodeId, Frame)>,
    pub finished: mpsc::UnboundedReceiver<Frame>,
}

impl Recorder {
    pub fn new() -> (Arc<Recorder>, Events) {
        let (arrived, arrived_rx) = mpsc::unbounded_channel();
        let (finished, finished_rx) = mpsc::unbounded_channel();
        let r = Arc::new(Recorder {
            calls: Mutex::new(Vec::new()),
            arrived,
            finished,
            gate: Notify::new(),
        });
        (
            r,
            Events {
                arrived: arrived_rx,
                finished: finished_rx,
            },
        )
    }

    pub fn calls(&self) -> Vec<(NodeId, Frame)> {
        self.calls.lock().unwrap().clone()
    }

    pub fn release(&self) {
        self.gate.notify_waiters();
    }
}

impl Service for Recorder {
    fn handle(&self, from: NodeId, frame: Frame) -> BoxFuture<'_, Frame> {
        self.calls.lock().unwrap().push((from, frame.clone()));
        let _ = self.arrived.send((from, frame.clone()));
        Box::pin(async move {
            let answer = match frame {
                Frame::Ping { nonce: HOLD } => {
                    self.gate.notified().await;
                    Frame::Pong { nonce: HOLD }
                }
                Frame::Ping { nonce } => Frame::Pong { nonce },
                other => other,
            };
            let _ = self.finished.send(answer.clone());
            answer
        })
    }
}

/// Binds `name` from `certs` on loopback, after `tweak` edits its config.
pub async fn node_with(
    certs: &ClusterCerts,
    name: &str,
    tweak: impl FnOnce(&mut QuicConfig),
) -> QuicTransport {
    let mut config = certs.config(id(name), loopback()).unwrap();
    tweak(&mut config);
    QuicTransport::bind(config).await.unwrap()
}

pub async fn node(certs: &ClusterCerts, name: &str) -> QuicTransport {
    node_with(certs, name, |_| {}).await
}

/// Binds `name` and serves it with a fresh [`Recorder`].
pub async fn serving(certs: &ClusterCerts, name: &str) -> (QuicTransport, Arc<Recorder>, Events) {
    let t = node(certs, name).await;
    let (rec, rx) = Recorder::new();
    t.serve(rec.clone());
    (t, rec, rx)
}

/// Tells `from` where `to` listens.
pub fn introduce(from: &QuicTransport, to: &QuicTransport) {
    from.set_address(to.local(), &to.local_addr().to_string());
}

// ----- a raw client -----

/// A quinn client endpoint that trusts `ca_pem`, presents `identity` (or no
/// certificate) and offers `alpn`.
pub fn raw_endpoint(ca_pem: &str, identity: Option<&CertKey>, alpn: &[u8]) -> quinn::Endpoint {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(pair) => {
            let chain = CertificateDer::pem_slice_iter(pair.cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    let mut endpoint = quinn::Endpoint::client(loopback()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(config).unwrap(),
    )));
    endpoint
}

/// A raw endpoint with the cluster's CA, `identity`'s certificate and the
/// right ALPN.
pub fn raw_member(certs: &ClusterCerts, identity: &str) -> quinn::Endpoint {
    raw_endpoint(&certs.ca.cert_pem, certs.node(id(identity)), ALPN)
}

/// `[u32 length][frame]`.
pub fn prefixed(frame: &Frame) -> Vec<u8> {
    let bytes = wire::encode(frame, MAX_FRAME).unwrap();
    let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&bytes);
    out
}

/// Reads one length-prefixed answer to the end of the stream.
pub async fn read_answer(recv: &mut quinn::RecvStream) -> Result<Frame, quinn::ReadToEndError> {
    let bytes = recv.read_to_end(1 << 20).await?;
    assert!(bytes.len() >= 4, "answer too short");
    let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    assert_eq!(len, bytes.len() - 4, "length prefix disagrees");
    Ok(wire::decode(&bytes[4..], MAX_FRAME).unwrap())
}

/// Sends `bytes` on a new stream, finishes it, and reads the answer.
pub async fn raw_exchange(
    conn: &quinn::Connection,
    bytes: &[u8],
) -> Result<Frame, quinn::ReadToEndError> {
    let (mut send, mut recv) = conn.open_bi().await.expect("open a stream");
    send.write_all(bytes).await.expect("write");
    send.finish().unwrap();
    read_answer(&mut recv).await
}

/// Connects to `server` at `addr` and does the `Hello` exchange claiming to
/// be `claim`. Any failure, at any step, comes back as text.
pub async fn raw_session(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    server: &str,
    claim: &str,
) -> Result<quinn::Connection, String> {
    let conn = endpoint
        .connect(addr, server)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    match raw_exchange(&conn, &prefixed(&Frame::Hello { node: id(claim) })).await {
        Ok(Frame::Hello { node }) if node.as_str() == server => Ok(conn),
        Ok(other) => Err(format!("unexpected answer {other:?}")),
        Err(e) => Err(format!("hello: {e}")),
    }
}

// ----- capturing the transport's log events -----

/// One event logged by this crate.
#[derive(Clone, Debug)]
pub struct Logged {
    pub level: tracing::Level,
    pub message: String,
    pub fields: HashMap<String, String>,
}

struct Capture {
    tx: mpsc::UnboundedSender<Logged>,
    next_span: AtomicU64,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        meta.target().starts_with("goldfish_transport_quic")
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        let _ = self.tx.send(Logged {
            level: *event.metadata().level(),
            message,
            fields,
        });
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Captures this crate's events on the current thread (the tests run on a
/// current-thread runtime, so the transport's tasks log here too).
pub struct Logs {
    rx: mpsc::UnboundedReceiver<Logged>,
    _guard: tracing::subscriber::DefaultGuard,
}

pub fn capture_logs() -> Logs {
    let (tx, rx) = mpsc::unbounded_channel();
    let guard = tracing::subscriber::set_default(Capture {
        tx,
        next_span: AtomicU64::new(0),
    });
    Logs { rx, _guard: guard }
}

impl Logs {
    /// Waits for a warning whose message contains `text`.
    pub async fn warning(&mut self, text: &str) -> Logged {
        within(async {
            loop {
                let e = self.rx.recv().await.expect("log channel closed");
                if e.level == tracing::Level::WARN && e.message.contains(text) {
                    return e;
                }
            }
        })
        .await
    }
}
