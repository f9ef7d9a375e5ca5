//! The one interface nodes talk through. Transports (`goldfish-transport-mem`,
//! `goldfish-transport-quic`) implement [`Transport`]; the node implements
//! [`Service`] for what arrives. Request and answer: every request frame gets
//! exactly one answer frame, or an error.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;

use crate::ids::NodeId;
use crate::wire::Frame;

/// A boxed, sendable future (what the traits return, so they stay object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a request got no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// The peer cannot be reached (unknown, killed, partitioned, connection lost).
    Unreachable {
        /// The peer.
        node: NodeId,
        /// What went wrong, for humans.
        reason: String,
    },
    /// This transport has been closed.
    Closed,
    /// The frame is larger than the transport allows.
    TooLarge {
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The peer answered with bytes that are not a frame.
    Protocol(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Unreachable { node, reason } => {
                write!(f, "node `{node}` is unreachable: {reason}")
            }
            TransportError::Closed => f.write_str("the transport is closed"),
            TransportError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes is over the limit of {max}")
            }
            TransportError::Protocol(e) => write!(f, "protocol error: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TransportError {}

/// What a transport has carried (for metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Bytes written to peers.
    pub bytes_sent: u64,
    /// Bytes read from peers.
    pub bytes_received: u64,
    /// Requests sent.
    pub requests_sent: u64,
    /// Requests answered.
    pub requests_served: u64,
    /// Connections or frames refused (bad certificate, oversized, malformed).
    pub refused: u64,
}

/// Sends frames to other nodes.
pub trait Transport: Send + Sync + 'static {
    /// This node's name.
    fn local(&self) -> NodeId;

    /// Sends `frame` to `to` and waits for its answer.
    fn request(&self, to: NodeId, frame: Frame) -> BoxFuture<'_, Result<Frame, TransportError>>;

    /// Starts answering requests from other nodes with `service`.
    fn serve(&self, service: Arc<dyn Service>);

    /// Where `node` can be reached (from the registry), for transports that
    /// dial addresses. The default ignores it.
    fn set_address(&self, node: NodeId, address: &str) {
        let _ = (node, address);
    }

    /// What it has carried so far. The default reports nothing.
    fn stats(&self) -> TransportStats {
        TransportStats::default()
    }

    /// Closes the transport: peers see the connections close, and later
    /// requests fail. The default does nothing.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(core::future::ready(()))
    }
}

/// Answers the frames other nodes send (the node implements it).
pub trait Service: Send + Sync + 'static {
    /// The answer to `frame` from `from`.
    fn handle(&self, from: NodeId, frame: Frame) -> BoxFuture<'_, Frame>;
}
