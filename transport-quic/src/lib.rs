//! # goldfish-transport-quic
//!
//! GoldFish nodes talking to each other over QUIC ([quinn]), authenticated
//! both ways with TLS 1.3 ([rustls], ring provider). [`QuicTransport`]
//! implements [`goldfish_core::transport::Transport`]; [`certs`] makes the
//! cluster CA and the node certificates it needs.
//!
//! ## Identity: mutual TLS
//!
//! A cluster has one CA. Every node has a certificate signed by it whose DNS
//! subject alternative name is the node's name ([`NodeId`]); node names must
//! therefore be valid DNS names (not IP addresses). Both sides check:
//!
//! - the **server** requires a client certificate and verifies it against
//!   the cluster CA (rustls' `WebPkiClientVerifier`, client-auth usage);
//! - the **client** verifies the server's certificate against the cluster CA
//!   with the server name set to the [`NodeId`] it means to reach, so a node
//!   cannot answer in another's place;
//! - both offer and require the ALPN protocol [`ALPN`] (`goldfish/1`);
//! - TLS session resumption is off: every connection checks certificates
//!   afresh.
//!
//! A peer with no certificate, a certificate from another CA, a certificate
//! for another name, or another ALPN fails at the handshake: the refusal is
//! logged with `tracing::warn!` (remote address and reason), counted in
//! [`QuicStats::handshakes_refused`], and nothing it sent reaches the
//! [`Service`].
//!
//! **How `from` is authenticated.** The client's first stream on a new
//! connection carries `Frame::Hello { node }`, the name it claims. The server
//! checks that the client certificate (already verified against the CA by
//! the handshake) is valid for that name, with webpki's subject-name check
//! (`rustls::client::verify_server_name`, the same test a client applies to a
//! server), answers with its own `Hello`, and only then accepts request
//! streams; every request on that connection is handed to
//! [`Service::handle`] with that name as `from`. A claim the certificate does
//! not back closes the connection ([`code::IDENTITY_REFUSED`]). The name
//! thus comes from the CA's signature, not from the peer's word, and no
//! certificate parser beyond webpki is needed. (DNS names compare
//! case-insensitively, so a certificate for `edge-1` also backs `EDGE-1`:
//! give nodes names that differ in more than case.)
//!
//! ## On the wire
//!
//! One QUIC connection per (caller, callee) pair, opened by the caller on its
//! first request and reused for all later ones; two nodes that both send have
//! one connection each way. On it:
//!
//! 1. stream 0 (bidirectional): `Hello` from the client, `Hello` back;
//! 2. then one bidirectional stream per request, so a slow request holds up
//!    no other. The client writes `[u32 big-endian length][frame]` and
//!    finishes its side; the server reads the length, checks it with
//!    [`wire::check_frame_len`] before allocating anything, reads that many
//!    bytes (the buffer grows as they arrive, so a length prefix alone
//!    commits little memory), decodes them with [`wire::decode`], calls
//!    [`Service::handle`] in a task of its own (so a caller that stops
//!    waiting does not cancel the work), and writes the answer the same way.
//!    The client checks the answer's length the same way.
//!
//! Frames are `[wire::VERSION][postcard]` as everywhere in GoldFish. A bad
//! stream harms no other stream or the connection: an oversized length or
//! bytes that are not a frame make the server log a warning, count it
//! ([`QuicStats::frames_refused_oversized`],
//! [`QuicStats::frames_refused_malformed`]), stop and reset that stream with
//! [`code::FRAME_TOO_LARGE`] or [`code::FRAME_MALFORMED`], and answer
//! nothing. The codes in [`code`] are this protocol's stream and connection
//! error codes.
//!
//! ## Connections, reconnects and retries
//!
//! - Peers are known by [`Transport::set_address`] (`"host:port"`, resolved
//!   at each connection attempt). A request to a node with no address fails
//!   at once with [`reason::NO_ADDRESS`].
//! - Concurrent first requests to a peer share one connection attempt (it
//!   runs in its own task, so a caller giving up does not abort it).
//! - A lost connection (idle timeout, reset, peer gone) is dropped; the next
//!   request opens a new one. A peer that vanishes without closing (crash,
//!   network cut) is noticed when the idle timeout passes with no
//!   keep-alive answered, or at once if it restarted at the same address
//!   (its new endpoint answers with a stateless reset); requests in flight
//!   to it fail then.
//! - A failed attempt starts an exponential backoff: the wait is
//!   [`QuicConfig::backoff_min`], doubled at each further failure, up to
//!   [`QuicConfig::backoff_max`]. A request during the wait fails at once with
//!   [`reason::BACKING_OFF`]; a success resets it. A peer closing its
//!   connection with [`code::CLOSING`] (it is shutting down) counts as a
//!   failure, so requests right after a peer's [`close`](QuicTransport::close)
//!   fail promptly instead of waiting out a connection attempt.
//!   [`set_address`](Transport::set_address) with a new address clears the
//!   backoff (the node may have come back elsewhere).
//! - **Retry rule:** a request whose stream could not be opened because the
//!   connection had just died was not delivered; it is retried once, on a
//!   fresh connection. Once any of a request's bytes were written it is never
//!   retried: a lost connection then fails it with `Unreachable` (it may or
//!   may not have run), and callers deduplicate by message id.
//! - Keep-alives ([`QuicConfig::keep_alive`]) keep idle connections open and
//!   notice dead peers within [`QuicConfig::idle_timeout`].
//!
//! ## Errors a request can return
//!
//! | what happened | error |
//! |---|---|
//! | this transport is closed | `Closed` |
//! | the frame is over [`QuicConfig::max_frame`] | `TooLarge` (nothing sent) |
//! | no address, backoff, connect timeout, refused handshake, connection lost | `Unreachable` with a [`reason`] |
//! | the peer does not [`serve`](Transport::serve) yet | `Unreachable` ([`reason::NOT_SERVING`]) |
//! | the peer's handler ended without an answer (it panicked) | `Unreachable` ([`reason::HANDLER_LOST`]) |
//! | the answer is over the limit or not a frame, or the peer refused ours | `TooLarge` / `Protocol` |
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use goldfish_core::transport::{BoxFuture, Service, Transport};
//! use goldfish_core::wire::Frame;
//! use goldfish_core::NodeId;
//! use goldfish_transport_quic::{certs, QuicTransport};
//!
//! struct Pong;
//!
//! impl Service for Pong {
//!     fn handle(&self, _from: NodeId, frame: Frame) -> BoxFuture<'_, Frame> {
//!         Box::pin(async move {
//!             match frame {
//!                 Frame::Ping { nonce } => Frame::Pong { nonce },
//!                 other => other,
//!             }
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let cluster = certs::generate_in_memory(&["a", "b"]).unwrap();
//! let [a, b] = ["a", "b"].map(|n| NodeId::new(n).unwrap());
//! let local = "127.0.0.1:0".parse().unwrap();
//! let ta = QuicTransport::bind(cluster.config(a, local).unwrap()).await.unwrap();
//! let tb = QuicTransport::bind(cluster.config(b, local).unwrap()).await.unwrap();
//! tb.serve(Arc::new(Pong));
//! ta.set_address(b, &tb.local_addr().to_string());
//!
//! assert_eq!(ta.request(b, Frame::Ping { nonce: 7 }).await, Ok(Frame::Pong { nonce: 7 }));
//! assert_eq!(ta.stats().connections_opened, 1);
//! ta.close().await;
//! tb.close().await;
//! # }
//! ```
//!
//! [quinn]: https://docs.rs/quinn
//! [rustls]: https://docs.rs/rustls

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use goldfish_core::transport::{BoxFuture, Service, Transport, TransportError};
use goldfish_core::wire::{self, Frame};
use goldfish_core::NodeId;
use quinn::{Endpoint, VarInt};

pub mod certs;
mod client;
mod config;
mod framing;
mod server;

pub use config::{
    QuicConfig, QuicError, DEFAULT_BACKOFF_MAX, DEFAULT_BACKOFF_MIN, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_KEEP_ALIVE,
};

/// The ALPN protocol both sides offer and require.
pub const ALPN: &[u8] = b"goldfish/1";

/// The largest `Hello` frame accepted (a node name is at most 32 bytes).
pub const MAX_HELLO: usize = 128;

/// How long [`QuicTransport::close`] waits for peers to acknowledge the close.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// This protocol's QUIC application error codes: connection close codes and
/// stream reset / stop-sending codes.
pub mod code {
    /// Connection: the node is shutting down ([`QuicTransport::close`](crate::QuicTransport::close)).
    pub const CLOSING: u32 = 0x01;
    /// Connection: the server refused the client's identity (wrong ALPN, no
    /// `Hello`, or a name the certificate does not back).
    pub const IDENTITY_REFUSED: u32 = 0x02;
    /// Stream: the frame's length prefix is over the receiver's limit.
    pub const FRAME_TOO_LARGE: u32 = 0x10;
    /// Stream: the bytes are not a frame.
    pub const FRAME_MALFORMED: u32 = 0x11;
    /// Stream: the node does not serve requests (yet).
    pub const NOT_SERVING: u32 = 0x12;
    /// Stream: the service's answer could not be encoded (over the limit).
    pub const ANSWER_FAILED: u32 = 0x13;
    /// Stream: the request ended before a whole frame.
    pub const INCOMPLETE: u32 = 0x14;
}

/// The `reason` strings of [`TransportError::Unreachable`]. Most reasons are
/// one of these followed by `": "` and details, so match with `starts_with`.
pub mod reason {
    /// No address was given for the node ([`Transport::set_address`](goldfish_core::transport::Transport::set_address)).
    pub const NO_ADDRESS: &str = "no address for node";
    /// The node's address could not be resolved.
    pub const BAD_ADDRESS: &str = "bad address";
    /// A recent connection attempt failed; the next is not due yet.
    pub const BACKING_OFF: &str = "backing off";
    /// The connection attempt did not finish within the connect timeout.
    pub const CONNECT_TIMEOUT: &str = "connect timed out";
    /// The TLS handshake or the `Hello` exchange was refused (by either side).
    pub const HANDSHAKE_REFUSED: &str = "handshake refused";
    /// The connection could not be made or was lost (request may have run).
    pub const CONNECTION_LOST: &str = "connection lost";
    /// The peer closed its connection: it is shutting down.
    pub const PEER_CLOSED: &str = "peer closed the connection";
    /// The node does not serve requests yet.
    pub const NOT_SERVING: &str = "node has no service";
    /// The peer's handler ended without an answer (it panicked).
    pub const HANDLER_LOST: &str = "handler ended without an answer";
}

/// What one transport has done since it was bound. Byte counts are frame
/// bytes with their length prefixes (`Hello`s included), not QUIC overhead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuicStats {
    /// Outgoing connections established (handshake and `Hello` done).
    pub connections_opened: u64,
    /// Incoming connections established (handshake and `Hello` done).
    pub connections_accepted: u64,
    /// Handshakes that failed, in or out: TLS refused by either side
    /// (certificate, CA, name, ALPN), identity refused, or an incoming
    /// handshake that timed out or was abandoned.
    pub handshakes_refused: u64,
    /// Outgoing connection attempts that failed for other reasons (timeout,
    /// bad address, connection lost during the attempt).
    pub connect_failures: u64,
    /// Requests whose bytes this node started to write.
    pub requests_sent: u64,
    /// Requests this node's service answered (answer written).
    pub requests_served: u64,
    /// Frames refused because their length prefix was over the limit
    /// (requests received, or answers to this node's requests).
    pub frames_refused_oversized: u64,
    /// Frames refused because their bytes were not a frame.
    pub frames_refused_malformed: u64,
    /// Frame bytes written.
    pub bytes_sent: u64,
    /// Frame bytes read.
    pub bytes_received: u64,
}

#[derive(Default)]
struct Counters {
    connections_opened: AtomicU64,
    connections_accepted: AtomicU64,
    handshakes_refused: AtomicU64,
    connect_failures: AtomicU64,
    requests_sent: AtomicU64,
    requests_served: AtomicU64,
    frames_refused_oversized: AtomicU64,
    frames_refused_malformed: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> QuicStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        QuicStats {
            connections_opened: get(&self.connections_opened),
            connections_accepted: get(&self.connections_accepted),
            handshakes_refused: get(&self.handshakes_refused),
            connect_failures: get(&self.connect_failures),
            requests_sent: get(&self.requests_sent),
            requests_served: get(&self.requests_served),
            frames_refused_oversized: get(&self.frames_refused_oversized),
            frames_refused_malformed: get(&self.frames_refused_malformed),
            bytes_sent: get(&self.bytes_sent),
            bytes_received: get(&self.bytes_received),
        }
    }
}

fn bump(c: &AtomicU64) {
    add(c, 1);
}

fn add(c: &AtomicU64, n: usize) {
    c.fetch_add(n as u64, Ordering::Relaxed);
}

/// Settings the running transport reads.
struct Settings {
    max_frame: usize,
    connect_timeout: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
}

/// The state shared by the transport handle and its tasks.
struct Inner {
    local: NodeId,
    local_addr: SocketAddr,
    endpoint: Endpoint,
    settings: Settings,
    service: Mutex<Option<Arc<dyn Service>>>,
    peers: Mutex<HashMap<NodeId, client::Peer>>,
    next_attempt: AtomicU64,
    closed: AtomicBool,
    stats: Counters,
}

impl Inner {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn service(&self) -> Option<Arc<dyn Service>> {
        lock(&self.service).clone()
    }

    fn peers(&self) -> MutexGuard<'_, HashMap<NodeId, client::Peer>> {
        lock(&self.peers)
    }

    /// Closes the endpoint (peers see [`code::CLOSING`]) and lets go of the
    /// connections and the service. Later requests return `Closed`.
    fn shut(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        self.endpoint
            .close(VarInt::from_u32(code::CLOSING), b"node closing");
        // Dropped outside the locks: their Drops may call back in.
        let peers = std::mem::take(&mut *self.peers());
        let service = lock(&self.service).take();
        drop(peers);
        drop(service);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Closes the endpoint when the last [`QuicTransport`] clone is dropped (the
/// tasks hold [`Inner`], not this).
struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.shut();
    }
}

/// A node's QUIC endpoint: it dials peers for its requests and accepts their
/// connections for its [`Service`]. See the [crate docs](crate) for the
/// protocol and its rules.
///
/// Cheap to clone; clones are the same endpoint. Dropping the last clone
/// closes it as [`close`](Self::close) does, without waiting.
#[derive(Clone)]
pub struct QuicTransport {
    handle: Arc<Handle>,
}

impl fmt::Debug for QuicTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.handle.inner;
        f.debug_struct("QuicTransport")
            .field("node", &inner.local)
            .field("addr", &inner.local_addr)
            .field("closed", &inner.is_closed())
            .finish()
    }
}

impl QuicTransport {
    /// Checks the configuration and credentials, binds the UDP socket and
    /// starts accepting connections. Must run inside a tokio runtime (with
    /// timers and IO enabled); the transport's tasks run on it.
    ///
    /// Requests from peers are refused with [`reason::NOT_SERVING`] until
    /// [`serve`](Transport::serve) is called.
    pub async fn bind(config: QuicConfig) -> Result<QuicTransport, QuicError> {
        let endpoints = config::build(&config)?;
        let bind_error = |source| QuicError::Bind {
            addr: config.listen,
            source,
        };
        let mut endpoint = Endpoint::server(endpoints.server, config.listen).map_err(bind_error)?;
        endpoint.set_default_client_config(endpoints.client);
        let local_addr = endpoint.local_addr().map_err(bind_error)?;
        let inner = Arc::new(Inner {
            local: config.name,
            local_addr,
            endpoint,
            settings: Settings {
                max_frame: config.max_frame,
                connect_timeout: config.connect_timeout,
                backoff_min: config.backoff_min,
                backoff_max: config.backoff_max,
            },
            service: Mutex::new(None),
            peers: Mutex::new(HashMap::new()),
            next_attempt: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            stats: Counters::default(),
        });
        tokio::spawn(server::accept_loop(inner.clone()));
        tracing::debug!(node = %inner.local, addr = %local_addr, "QUIC transport listening");
        Ok(QuicTransport {
            handle: Arc::new(Handle { inner }),
        })
    }

    /// The address the endpoint is bound to (with the port chosen if the
    /// configuration said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.inner.local_addr
    }

    /// What this transport has done so far.
    pub fn stats(&self) -> QuicStats {
        self.handle.inner.stats.snapshot()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.handle.inner.is_closed()
    }

    /// Closes the endpoint cleanly: every connection is closed with
    /// [`code::CLOSING`], so peers' requests fail promptly and they back off
    /// instead of dialling a node that is gone; this node's requests in
    /// flight and all later ones return [`TransportError::Closed`]. Waits
    /// (at most a second) for peers to acknowledge the close. The service is
    /// dropped. Calling it again does nothing more.
    pub async fn close(&self) {
        let inner = &self.handle.inner;
        inner.shut();
        let _ = tokio::time::timeout(CLOSE_WAIT, inner.endpoint.wait_idle()).await;
    }
}

impl Transport for QuicTransport {
    fn local(&self) -> NodeId {
        self.handle.inner.local
    }

    /// Sends `frame` to `to` on its own stream and waits for the answer (see
    /// the [crate docs](crate) for connections, retries and errors). Dropping
    /// the future abandons the answer but does not cancel the peer's work
    /// once the request was sent.
    fn request(&self, to: NodeId, frame: Frame) -> BoxFuture<'_, Result<Frame, TransportError>> {
        Box::pin(self.handle.inner.request(to, frame))
    }

    /// Registers (or replaces) the service that answers peers' requests.
    /// Does nothing once the transport is closed.
    ///
    /// The transport holds the service until it is closed; a service that
    /// holds its own transport forms a cycle that [`close`](QuicTransport::close)
    /// breaks.
    fn serve(&self, service: Arc<dyn Service>) {
        let inner = &self.handle.inner;
        let old = {
            let mut slot = lock(&inner.service);
            if inner.is_closed() {
                Some(service)
            } else {
                slot.replace(service)
            }
        };
        drop(old);
    }

    /// Records that `node` listens at `address` (`"host:port"`; a host name
    /// is resolved at each connection attempt). A changed address clears the
    /// node's backoff; a live connection to the node is kept (its certificate
    /// proved who it is).
    fn set_address(&self, node: NodeId, address: &str) {
        self.handle.inner.set_address(node, address);
    }

    /// This endpoint's counters (see [`QuicTransport::stats`]).
    fn stats(&self) -> goldfish_core::transport::TransportStats {
        let s = QuicTransport::stats(self);
        goldfish_core::transport::TransportStats {
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            requests_sent: s.requests_sent,
            requests_served: s.requests_served,
            refused: s.handshakes_refused + s.frames_refused_oversized + s.frames_refused_malformed,
        }
    }

    /// Closes the endpoint (see [`QuicTransport::close`]).
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(QuicTransport::close(self))
    }
}

/// An `Unreachable` error for `node`.
fn unreachable(node: NodeId, reason: impl Into<String>) -> TransportError {
    TransportError::Unreachable {
        node,
        reason: reason.into(),
    }
}

fn wire_error(e: wire::WireError) -> TransportError {
    match e {
        wire::WireError::TooLarge { len, max } => TransportError::TooLarge { len, max },
        e => TransportError::Protocol(e.to_string()),
    }
}
