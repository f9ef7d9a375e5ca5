//! Shared helpers for the host tests: guests, nodes, and a transport that
//! holds calls until the test answers them (a deterministic "busy" actor).
#![allow(dead_code, unreachable_pub)]

pub mod redis;

use std::sync::Arc;

use goldfish_core::transport::{BoxFuture, Service, Transport, TransportError};
use goldfish_core::wire::{Frame, Outcome, Payload, Request};
use goldfish_core::{FunctionId, NodeId, Target};
use goldfish_host::{
    guests, FunctionCapacity, FunctionConfig, MemRegistry, Node, NodeInfo, Registry,
};
use tokio::sync::{mpsc, oneshot};

/// A built example guest.
pub fn guest(name: &str) -> &'static [u8] {
    guests::by_name(name).unwrap_or_else(|| panic!("no guest {name}"))
}

/// A hostile test guest from `tests/guests/*.wat`.
pub fn wat(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/guests/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn t(s: &str) -> Target {
    Target::parse(s).unwrap()
}

pub fn reply(o: &Outcome) -> String {
    match o {
        Outcome::Reply(p) => String::from_utf8_lossy(&p.0).into_owned(),
        other => panic!("expected a reply, got {other:?}"),
    }
}

/// A single node with the example guests deployed.
pub fn node(config: FunctionConfig) -> Node {
    let node = Node::builder().name("n1").build().unwrap();
    for (name, wasm) in guests::ALL {
        node.deploy(name, wasm, config.clone()).unwrap();
    }
    node
}

/// Requests to the pretend node `ext`, each waiting for the test's answer.
pub struct Held {
    requests: mpsc::UnboundedReceiver<(Request, oneshot::Sender<Frame>)>,
}

impl Held {
    /// The next request a guest made to function `hold`.
    pub async fn next(&mut self) -> (Request, oneshot::Sender<Frame>) {
        self.requests.recv().await.expect("the node is alive")
    }

    /// Answers a held request with a reply.
    pub fn answer(req: &Request, to: oneshot::Sender<Frame>, body: &str) {
        let _ = to.send(Frame::Outcome {
            id: req.id,
            outcome: Outcome::Reply(Payload(body.as_bytes().to_vec())),
        });
    }
}

struct HoldTransport {
    me: NodeId,
    tx: mpsc::UnboundedSender<(Request, oneshot::Sender<Frame>)>,
}

impl Transport for HoldTransport {
    fn local(&self) -> NodeId {
        self.me
    }

    fn request(&self, to: NodeId, frame: Frame) -> BoxFuture<'_, Result<Frame, TransportError>> {
        let (tx, rx) = oneshot::channel();
        let Frame::Request(r) = frame else {
            return Box::pin(async move { Ok(Frame::Pong { nonce: 0 }) });
        };
        let _ = self.tx.send((r, tx));
        Box::pin(async move {
            rx.await.map_err(|_| TransportError::Unreachable {
                node: to,
                reason: "the test dropped the request".into(),
            })
        })
    }

    fn serve(&self, _service: Arc<dyn Service>) {}
}

/// A node whose guests can `call` function `hold` on the pretend node `ext`;
/// every such call waits until the test answers it through [`Held`].
pub async fn node_with_hold(config: FunctionConfig) -> (Node, Held) {
    let registry = MemRegistry::new();
    // The pretend node `ext` runs `hold`, with a lease that outlives the test.
    registry
        .heartbeat(
            NodeInfo {
                node: NodeId::new("ext").unwrap(),
                address: None,
                functions: vec![FunctionCapacity {
                    function: FunctionId::new("hold").unwrap(),
                    free: 1,
                }],
            },
            std::time::Duration::from_secs(86_400),
        )
        .await
        .unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let node = Node::builder()
        .name("n1")
        .transport(Arc::new(HoldTransport {
            me: NodeId::new("n1").unwrap(),
            tx,
        }))
        .registry(Arc::new(registry))
        .build()
        .unwrap();
    for (name, wasm) in guests::ALL {
        node.deploy(name, wasm, config.clone()).unwrap();
    }
    node.announce().await.unwrap();
    (node, Held { requests: rx })
}
