//! The calling side: one connection per peer, shared connection attempts,
//! backoff, and one stream per request.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use goldfish_core::transport::TransportError;
use goldfish_core::wire::{self, Frame};
use goldfish_core::NodeId;
use quinn::{ConnectError, Connection, ConnectionError, ReadError, VarInt, WriteError};
use tokio::sync::watch;

use crate::framing::{read_frame, write_frame, ReadFail};
use crate::{add, bump, code, reason, unreachable, wire_error, Inner, ALPN, MAX_HELLO};

/// What this node knows about one peer it sends to.
pub(crate) struct Peer {
    /// Where it listens (`host:port`).
    address: String,
    /// Bumped when the address changes: a failed attempt made for an older
    /// address does not start a backoff.
    generation: u64,
    slot: Slot,
    /// Failed attempts in a row.
    failures: u32,
    /// No new attempt before this.
    retry_at: Option<Instant>,
    /// Why the last attempt failed, for the backoff error.
    last_error: String,
}

/// The result of a connection attempt, shared by everyone waiting on it.
type Attempt = Option<Result<Connection, TransportError>>;

enum Slot {
    Idle,
    Connecting {
        attempt: u64,
        done: watch::Receiver<Attempt>,
    },
    Ready(Connection),
}

/// How a connection attempt or connection ended, sorted for stats and errors.
enum Ending {
    /// A TLS alert or an identity refusal: counted as a refused handshake.
    Refused(String),
    /// The peer closed with [`code::CLOSING`].
    PeerClosed,
    /// This transport was closed.
    Closed,
    /// Anything else: timeout, reset, lost.
    Lost(String),
}

fn is_tls_alert(code: u64) -> bool {
    (0x100..0x200).contains(&code)
}

fn ending(e: &ConnectionError, closed: bool) -> Ending {
    match e {
        ConnectionError::TransportError(t) if is_tls_alert(u64::from(t.code)) => {
            Ending::Refused(format!("this node refused the peer: {t}"))
        }
        ConnectionError::ConnectionClosed(c) if is_tls_alert(u64::from(c.error_code)) => {
            Ending::Refused(format!("the peer refused this node: {c}"))
        }
        ConnectionError::ApplicationClosed(a)
            if a.error_code == VarInt::from_u32(code::IDENTITY_REFUSED) =>
        {
            Ending::Refused(format!(
                "the peer refused this node's identity: {}",
                String::from_utf8_lossy(&a.reason)
            ))
        }
        ConnectionError::ApplicationClosed(a)
            if a.error_code == VarInt::from_u32(code::CLOSING) =>
        {
            Ending::PeerClosed
        }
        ConnectionError::LocallyClosed if closed => Ending::Closed,
        e => Ending::Lost(e.to_string()),
    }
}

impl Ending {
    fn error(self, to: NodeId) -> TransportError {
        match self {
            Ending::Refused(why) => {
                unreachable(to, format!("{}: {why}", reason::HANDSHAKE_REFUSED))
            }
            Ending::PeerClosed => unreachable(to, reason::PEER_CLOSED),
            Ending::Closed => TransportError::Closed,
            Ending::Lost(why) => unreachable(to, format!("{}: {why}", reason::CONNECTION_LOST)),
        }
    }
}

/// A failure before the connection was ready, with what caused it.
struct Failed {
    refused: bool,
    error: TransportError,
}

impl Failed {
    fn from_connection(e: &ConnectionError, closed: bool, to: NodeId) -> Failed {
        let ending = ending(e, closed);
        Failed {
            refused: matches!(ending, Ending::Refused(_)),
            error: ending.error(to),
        }
    }

    fn lost(to: NodeId, why: impl std::fmt::Display) -> Failed {
        Failed {
            refused: false,
            error: unreachable(to, format!("{}: {why}", reason::CONNECTION_LOST)),
        }
    }

    fn refused(to: NodeId, why: impl std::fmt::Display) -> Failed {
        Failed {
            refused: true,
            error: unreachable(to, format!("{}: {why}", reason::HANDSHAKE_REFUSED)),
        }
    }
}

/// An error's reason, for logs.
fn why(e: &TransportError) -> String {
    match e {
        TransportError::Unreachable { reason, .. } => reason.clone(),
        e => e.to_string(),
    }
}

/// Maps a stream reset or stop-sending code from the peer.
fn stream_code(to: NodeId, c: VarInt) -> TransportError {
    let c = c.into_inner();
    match u32::try_from(c) {
        Ok(code::NOT_SERVING) => unreachable(to, reason::NOT_SERVING),
        Ok(code::FRAME_TOO_LARGE) => {
            TransportError::Protocol("the peer refused the request as over its frame limit".into())
        }
        Ok(code::FRAME_MALFORMED) => {
            TransportError::Protocol("the peer could not decode the request".into())
        }
        Ok(code::ANSWER_FAILED) => {
            TransportError::Protocol("the peer's answer is over its frame limit".into())
        }
        _ => TransportError::Protocol(format!("the peer reset the request stream (code {c})")),
    }
}

impl Inner {
    /// The wait after `failures` failed attempts in a row (at least 1):
    /// `backoff_min * 2^(failures - 1)`, at most `backoff_max`.
    fn backoff(&self, failures: u32) -> Duration {
        let s = &self.settings;
        let doublings = failures.saturating_sub(1).min(31);
        s.backoff_min
            .saturating_mul(1u32 << doublings)
            .min(s.backoff_max)
    }

    pub(crate) fn set_address(&self, node: NodeId, address: &str) {
        let address = address.trim();
        if address
            .rsplit_once(':')
            .is_none_or(|(_, port)| port.parse::<u16>().is_err())
        {
            tracing::warn!(%node, address, "address is not `host:port`; requests to the node will fail");
        }
        if self.is_closed() {
            return;
        }
        let mut peers = self.peers();
        match peers.get_mut(&node) {
            Some(peer) if peer.address == address => {}
            Some(peer) => {
                peer.address = address.to_owned();
                peer.generation += 1;
                peer.failures = 0;
                peer.retry_at = None;
            }
            None => {
                peers.insert(
                    node,
                    Peer {
                        address: address.to_owned(),
                        generation: 0,
                        slot: Slot::Idle,
                        failures: 0,
                        retry_at: None,
                        last_error: String::new(),
                    },
                );
            }
        }
    }

    /// A request, end to end (see the crate docs for the retry rule).
    pub(crate) async fn request(
        self: &Arc<Self>,
        to: NodeId,
        frame: Frame,
    ) -> Result<Frame, TransportError> {
        if self.is_closed() {
            return Err(TransportError::Closed);
        }
        let bytes = wire::encode(&frame, self.settings.max_frame).map_err(wire_error)?;
        drop(frame);
        let mut retried = false;
        loop {
            let conn = self.connection(to).await?;
            match conn.open_bi().await {
                Ok((send, recv)) => return self.exchange(to, send, recv, &bytes).await,
                Err(e) => {
                    // Nothing was sent: one more try on a fresh connection.
                    self.lost(to, &conn, &e);
                    if retried || self.is_closed() {
                        return Err(ending(&e, self.is_closed()).error(to));
                    }
                    tracing::debug!(node = %to, error = %e, "connection died before the request; retrying once");
                    retried = true;
                }
            }
        }
    }

    /// Writes the request on its stream and reads the answer.
    async fn exchange(
        &self,
        to: NodeId,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
        bytes: &[u8],
    ) -> Result<Frame, TransportError> {
        bump(&self.stats.requests_sent);
        match write_frame(&mut send, bytes).await {
            Ok(n) => add(&self.stats.bytes_sent, n),
            Err(e) => return Err(self.write_error(to, e)),
        }
        let _ = send.finish();
        match read_frame(&mut recv, self.settings.max_frame).await {
            Ok((frame, n)) => {
                add(&self.stats.bytes_received, n);
                Ok(frame)
            }
            Err(ReadFail::TooLarge { len, max }) => {
                bump(&self.stats.frames_refused_oversized);
                let _ = recv.stop(VarInt::from_u32(code::FRAME_TOO_LARGE));
                tracing::warn!(node = %to, len, max, "refused an oversized answer");
                Err(TransportError::TooLarge { len, max })
            }
            Err(ReadFail::Malformed { error, bytes }) => {
                bump(&self.stats.frames_refused_malformed);
                add(&self.stats.bytes_received, bytes);
                tracing::warn!(node = %to, %error, "refused a malformed answer");
                Err(TransportError::Protocol(error.to_string()))
            }
            Err(ReadFail::Ended { got: 0 }) => Err(unreachable(to, reason::HANDLER_LOST)),
            Err(ReadFail::Ended { got }) => Err(TransportError::Protocol(format!(
                "the answer was cut short after {got} bytes"
            ))),
            Err(ReadFail::Stream(e)) => Err(self.read_error(to, e)),
        }
    }

    fn write_error(&self, to: NodeId, e: WriteError) -> TransportError {
        match e {
            WriteError::Stopped(c) => stream_code(to, c),
            WriteError::ConnectionLost(e) => ending(&e, self.is_closed()).error(to),
            e => TransportError::Protocol(format!("cannot write the request: {e}")),
        }
    }

    fn read_error(&self, to: NodeId, e: ReadError) -> TransportError {
        match e {
            ReadError::Reset(c) => stream_code(to, c),
            ReadError::ConnectionLost(e) => ending(&e, self.is_closed()).error(to),
            e => TransportError::Protocol(format!("cannot read the answer: {e}")),
        }
    }

    /// Forgets `conn` if it is still `to`'s connection. A peer that closed
    /// because it is shutting down puts `to` in backoff.
    fn lost(&self, to: NodeId, conn: &Connection, why: &ConnectionError) {
        let mut peers = self.peers();
        if let Some(peer) = peers.get_mut(&to) {
            self.lost_locked(to, peer, conn.stable_id(), why);
        }
    }

    fn lost_locked(&self, to: NodeId, peer: &mut Peer, id: usize, why: &ConnectionError) {
        if !matches!(&peer.slot, Slot::Ready(c) if c.stable_id() == id) {
            return;
        }
        peer.slot = Slot::Idle;
        match ending(why, self.is_closed()) {
            Ending::PeerClosed => {
                tracing::debug!(node = %to, "peer closed the connection; backing off");
                self.failed_locked(peer, reason::PEER_CLOSED.to_owned());
            }
            _ => tracing::debug!(node = %to, error = %why, "connection lost"),
        }
    }

    fn failed_locked(&self, peer: &mut Peer, why: String) {
        peer.failures = peer.failures.saturating_add(1);
        peer.retry_at = Some(Instant::now() + self.backoff(peer.failures));
        peer.last_error = why;
    }

    /// The connection to `to`: the live one, the attempt in progress, or a
    /// new attempt (unless backing off).
    async fn connection(self: &Arc<Self>, to: NodeId) -> Result<Connection, TransportError> {
        let mut done = {
            let mut peers = self.peers();
            if self.is_closed() {
                return Err(TransportError::Closed);
            }
            let Some(peer) = peers.get_mut(&to) else {
                return Err(unreachable(to, reason::NO_ADDRESS));
            };
            if let Slot::Ready(conn) = &peer.slot {
                match conn.close_reason() {
                    None => return Ok(conn.clone()),
                    Some(why) => {
                        let id = conn.stable_id();
                        self.lost_locked(to, peer, id, &why);
                    }
                }
            }
            match &peer.slot {
                Slot::Connecting { done, .. } => done.clone(),
                _ => {
                    let now = Instant::now();
                    if let Some(at) = peer.retry_at.filter(|at| now < *at) {
                        return Err(unreachable(
                            to,
                            format!(
                                "{}: next attempt in {} ms; last: {}",
                                reason::BACKING_OFF,
                                (at - now).as_millis(),
                                peer.last_error
                            ),
                        ));
                    }
                    let attempt = self.next_attempt.fetch_add(1, Ordering::Relaxed);
                    let (tx, rx) = watch::channel(None);
                    peer.slot = Slot::Connecting {
                        attempt,
                        done: rx.clone(),
                    };
                    tokio::spawn(self.clone().connect_task(
                        to,
                        peer.address.clone(),
                        peer.generation,
                        attempt,
                        tx,
                    ));
                    rx
                }
            }
        };
        let result = match done.wait_for(Option::is_some).await {
            Ok(r) => r.clone(),
            Err(_) => None,
        };
        result.unwrap_or_else(|| {
            Err(unreachable(
                to,
                format!("{}: connection attempt abandoned", reason::CONNECTION_LOST),
            ))
        })
    }

    /// Runs one connection attempt, records its outcome and tells the waiters.
    async fn connect_task(
        self: Arc<Self>,
        to: NodeId,
        address: String,
        generation: u64,
        attempt: u64,
        tx: watch::Sender<Attempt>,
    ) {
        let result = self.attempt(to, &address).await;
        let keep = {
            let mut peers = self.peers();
            match peers.get_mut(&to) {
                Some(peer) if matches!(peer.slot, Slot::Connecting { attempt: a, .. } if a == attempt) =>
                {
                    match &result {
                        Ok(conn) => {
                            peer.slot = Slot::Ready(conn.clone());
                            peer.failures = 0;
                            peer.retry_at = None;
                        }
                        Err(e) => {
                            peer.slot = Slot::Idle;
                            if peer.generation == generation && !self.is_closed() {
                                self.failed_locked(peer, why(e));
                            }
                        }
                    }
                    true
                }
                // The transport was closed meanwhile.
                _ => false,
            }
        };
        let result = match result {
            Ok(conn) if keep => {
                tokio::spawn(self.clone().watch_connection(to, conn.clone()));
                Ok(conn)
            }
            Ok(conn) => {
                conn.close(VarInt::from_u32(code::CLOSING), b"node closing");
                Err(TransportError::Closed)
            }
            Err(e) => Err(e),
        };
        let _ = tx.send(Some(result));
    }

    /// Forgets the connection as soon as it ends, so the next request
    /// reconnects without first tripping over it.
    async fn watch_connection(self: Arc<Self>, to: NodeId, conn: Connection) {
        let why = conn.closed().await;
        let mut peers = self.peers();
        if let Some(peer) = peers.get_mut(&to) {
            self.lost_locked(to, peer, conn.stable_id(), &why);
        }
    }

    /// One connection attempt: resolve, QUIC + TLS handshake, `Hello`.
    async fn attempt(&self, to: NodeId, address: &str) -> Result<Connection, TransportError> {
        let addr = match self.resolve(address).await {
            Ok(addr) => addr,
            Err(why) => {
                bump(&self.stats.connect_failures);
                tracing::warn!(node = %to, address, reason = %why, "cannot resolve the node's address");
                return Err(unreachable(
                    to,
                    format!("{}: `{address}`: {why}", reason::BAD_ADDRESS),
                ));
            }
        };
        let connecting = match self.endpoint.connect(addr, to.as_str()) {
            Ok(c) => c,
            Err(ConnectError::EndpointStopping) => return Err(TransportError::Closed),
            Err(e) => {
                bump(&self.stats.connect_failures);
                return Err(unreachable(to, format!("{}: {e}", reason::CONNECTION_LOST)));
            }
        };
        let handshake = async {
            let conn = connecting
                .await
                .map_err(|e| Failed::from_connection(&e, self.is_closed(), to))?;
            self.hello(to, &conn).await?;
            Ok::<_, Failed>(conn)
        };
        match tokio::time::timeout(self.settings.connect_timeout, handshake).await {
            Ok(Ok(conn)) => {
                bump(&self.stats.connections_opened);
                tracing::debug!(node = %to, remote = %addr, "connected");
                Ok(conn)
            }
            Ok(Err(Failed {
                refused: true,
                error,
            })) => {
                bump(&self.stats.handshakes_refused);
                tracing::warn!(node = %to, remote = %addr, reason = why(&error), "outgoing handshake refused");
                Err(error)
            }
            Ok(Err(Failed { error, .. })) => {
                if error != TransportError::Closed {
                    bump(&self.stats.connect_failures);
                    tracing::debug!(node = %to, remote = %addr, reason = why(&error), "connection attempt failed");
                }
                Err(error)
            }
            Err(_) => {
                bump(&self.stats.connect_failures);
                let ms = self.settings.connect_timeout.as_millis();
                tracing::debug!(node = %to, remote = %addr, "connection attempt timed out");
                Err(unreachable(
                    to,
                    format!("{} after {ms} ms", reason::CONNECT_TIMEOUT),
                ))
            }
        }
    }

    async fn resolve(&self, address: &str) -> Result<SocketAddr, String> {
        if let Ok(addr) = address.parse::<SocketAddr>() {
            return Ok(addr);
        }
        let found: Vec<SocketAddr> = tokio::net::lookup_host(address)
            .await
            .map_err(|e| e.to_string())?
            .collect();
        let v4 = self.local_addr.is_ipv4();
        found
            .iter()
            .find(|a| a.is_ipv4() == v4)
            .or(found.first())
            .copied()
            .ok_or_else(|| "no addresses found".to_owned())
    }

    /// Checks the ALPN, then says who this node is and checks the answer.
    async fn hello(&self, to: NodeId, conn: &Connection) -> Result<(), Failed> {
        let alpn = conn
            .handshake_data()
            .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|d| d.protocol);
        if alpn.as_deref() != Some(ALPN) {
            conn.close(VarInt::from_u32(code::IDENTITY_REFUSED), b"ALPN");
            return Err(Failed::refused(
                to,
                "the peer did not agree on ALPN goldfish/1",
            ));
        }
        let closed = || self.is_closed();
        let lost = |e: &ConnectionError| Failed::from_connection(e, closed(), to);
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| lost(&e))?;
        let hello = wire::encode(&Frame::Hello { node: self.local }, MAX_HELLO)
            .map_err(|e| Failed::lost(to, e))?;
        let n = write_frame(&mut send, &hello).await.map_err(|e| match e {
            WriteError::ConnectionLost(e) => lost(&e),
            e => Failed::lost(to, e),
        })?;
        add(&self.stats.bytes_sent, n);
        let _ = send.finish();
        match read_frame(&mut recv, MAX_HELLO).await {
            Ok((Frame::Hello { node }, n)) if node == to => {
                add(&self.stats.bytes_received, n);
                Ok(())
            }
            Ok((Frame::Hello { node }, _)) => {
                Err(Failed::refused(to, format!("the peer says it is `{node}`")))
            }
            Ok((other, _)) => Err(Failed::refused(
                to,
                format!("the peer answered the Hello with {other:?}"),
            )),
            Err(ReadFail::Stream(ReadError::ConnectionLost(e))) => Err(lost(&e)),
            Err(_) => Err(Failed::refused(to, "the peer did not answer the Hello")),
        }
    }
}
