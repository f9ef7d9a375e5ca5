//! A tiny service that records what it receives, shared by the test files.
#![allow(dead_code)]

use std::sync::Arc;

use goldfish_core::transport::{BoxFuture, Service, Transport, TransportError};
use goldfish_core::wire::Frame;
use goldfish_core::NodeId;
use goldfish_transport_mem::{MemNetwork, MemTransport};
use tokio::sync::{mpsc, Notify};

pub(crate) fn id(name: &str) -> NodeId {
    NodeId::new(name).unwrap()
}

/// How a handler call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// It answered.
    Finished,
    /// Its future was dropped before it answered.
    Cancelled,
}

/// Records every call (`from`, frame) and how it ended; answers `Ping` with
/// `Pong` and echoes anything else. With a gate, each call waits for a
/// permit on it before answering.
pub(crate) struct Recorder {
    seen: mpsc::UnboundedSender<(NodeId, Frame)>,
    ends: mpsc::UnboundedSender<End>,
    gate: Option<Arc<Notify>>,
}

/// The test's side of a [`Recorder`].
pub(crate) struct Probe {
    pub(crate) seen: mpsc::UnboundedReceiver<(NodeId, Frame)>,
    pub(crate) ends: mpsc::UnboundedReceiver<End>,
}

impl Probe {
    /// The next call, waiting for it.
    pub(crate) async fn next(&mut self) -> (NodeId, Frame) {
        self.seen.recv().await.expect("the service is gone")
    }

    /// How the next call ended, waiting for it.
    pub(crate) async fn next_end(&mut self) -> End {
        self.ends.recv().await.expect("the service is gone")
    }

    /// Every call so far, without waiting.
    pub(crate) fn drain(&mut self) -> Vec<(NodeId, Frame)> {
        let mut all = Vec::new();
        while let Ok(x) = self.seen.try_recv() {
            all.push(x);
        }
        all
    }
}

impl Recorder {
    pub(crate) fn new() -> (Arc<Recorder>, Probe) {
        Recorder::with_gate(None)
    }

    pub(crate) fn gated(gate: Arc<Notify>) -> (Arc<Recorder>, Probe) {
        Recorder::with_gate(Some(gate))
    }

    fn with_gate(gate: Option<Arc<Notify>>) -> (Arc<Recorder>, Probe) {
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let (ends_tx, ends) = mpsc::unbounded_channel();
        (
            Arc::new(Recorder {
                seen: seen_tx,
                ends: ends_tx,
                gate,
            }),
            Probe { seen, ends },
        )
    }
}

/// Reports `Cancelled` unless disarmed.
struct Guard(Option<mpsc::UnboundedSender<End>>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(End::Cancelled);
        }
    }
}

impl Service for Recorder {
    fn handle(&self, from: NodeId, frame: Frame) -> BoxFuture<'_, Frame> {
        Box::pin(async move {
            let mut guard = Guard(Some(self.ends.clone()));
            let _ = self.seen.send((from, frame.clone()));
            if let Some(gate) = &self.gate {
                gate.notified().await;
            }
            guard.0 = None;
            let _ = self.ends.send(End::Finished);
            match frame {
                Frame::Ping { nonce } => Frame::Pong { nonce },
                other => other,
            }
        })
    }
}

/// A service made of a function.
pub(crate) struct FnService<F>(pub(crate) F);

impl<F: Fn(NodeId, Frame) -> Frame + Send + Sync + 'static> Service for FnService<F> {
    fn handle(&self, from: NodeId, frame: Frame) -> BoxFuture<'_, Frame> {
        let answer = (self.0)(from, frame);
        Box::pin(async move { answer })
    }
}

/// Joins `name` and serves a fresh recorder on it.
pub(crate) fn node(net: &MemNetwork, name: &str) -> (MemTransport, Probe) {
    let t = net.join(id(name)).unwrap();
    let (svc, probe) = Recorder::new();
    t.serve(svc);
    (t, probe)
}

pub(crate) async fn ping(
    t: &MemTransport,
    to: NodeId,
    nonce: u64,
) -> Result<Frame, TransportError> {
    t.request(to, Frame::Ping { nonce }).await
}

/// The reason of an `Unreachable` error (panics on anything else).
pub(crate) fn reason_of(r: Result<Frame, TransportError>) -> String {
    match r {
        Err(TransportError::Unreachable { reason, .. }) => reason,
        other => panic!("expected Unreachable, got {other:?}"),
    }
}
