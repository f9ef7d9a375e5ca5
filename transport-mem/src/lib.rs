//! # goldfish-transport-mem
//!
//! Several GoldFish nodes in one process, talking through an in-memory
//! network that tests can break on purpose.
//!
//! A [`MemNetwork`] is the hub; [`MemNetwork::join`] gives each node a
//! [`MemTransport`], which implements [`goldfish_core::transport::Transport`].
//! Every frame crosses the network as bytes: the request is written with
//! [`wire::encode`] and read back with [`wire::decode`] on the other side, and
//! so is the answer, so only what survives the wire arrives, the frame size
//! limit applies ([`wire::MAX_FRAME`] unless [`MemNetwork::set_max_frame`]
//! says otherwise) and [`MemNetwork::stats`] can count bytes.
//!
//! Each request runs the callee's [`Service::handle`] as its own tokio task, as
//! a real network would: dropping the caller's future does not cancel the
//! callee's work. The caller waits for the answer through a oneshot channel.
//! A request leaves when its future is first polled.
//!
//! ## Fault injection
//!
//! All of it can be changed at any time through the [`MemNetwork`]:
//!
//! | fault | what the caller sees | does the service run? |
//! |---|---|---|
//! | unknown node, or one that does not [`serve`](Transport::serve) yet | `Unreachable` ([`reason::UNKNOWN`], [`reason::NOT_SERVING`]) at once | no |
//! | [`partition`](MemNetwork::partition) (both ways, until [`heal`](MemNetwork::heal)) | `Unreachable` ([`reason::PARTITIONED`]) | no |
//! | [`kill`](MemNetwork::kill) of the callee | `Unreachable` ([`reason::KILLED`]) at once, also for requests whose handler is still running | a running handler is cancelled |
//! | [`kill`](MemNetwork::kill) of the caller | `Closed`, also for its requests in flight | yes, if it was already sent |
//! | dropped request ([`drop_next`](MemNetwork::drop_next), [`LinkFaults::drop_rate`]) | `Unreachable` ([`reason::DROPPED`]) after the link's delay | no |
//! | dropped answer ([`drop_answers_next`](MemNetwork::drop_answers_next), [`LinkFaults::drop_answer_rate`]) | `Unreachable` ([`reason::ANSWER_DROPPED`]) | yes: the message may have run |
//! | duplicate ([`duplicate_next`](MemNetwork::duplicate_next), [`LinkFaults::duplicate_rate`]) | the first answer; the second is discarded | twice, with equal frames |
//! | [`delay`](MemNetwork::delay) | the answer, later | yes |
//! | frame over the limit | `TooLarge` | no |
//!
//! A real network loses a dropped message silently and the caller times out;
//! this one reports the drop as an error instead (after the delay the frame
//! would have taken), so tests need no timeouts to notice it. Code under test
//! must treat `Unreachable` as "may or may not have run" anyway, since a
//! dropped answer reports the same way.
//!
//! Random faults draw from a small xorshift generator seeded by
//! [`MemNetwork::with_seed`] ([`MemNetwork::new`] uses a fixed seed): the same
//! seed and the same sequence of requests give the same faults.
//!
//! ## Example: three nodes
//!
//! ```
//! use std::sync::Arc;
//!
//! use goldfish_core::transport::{BoxFuture, Service, Transport, TransportError};
//! use goldfish_core::wire::Frame;
//! use goldfish_core::NodeId;
//! use goldfish_transport_mem::{reason, MemNetwork};
//!
//! /// Answers every ping with a pong.
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
//! let net = MemNetwork::with_seed(7);
//! let [n1, n2, n3] = ["n1", "n2", "n3"].map(|n| NodeId::new(n).unwrap());
//! let t1 = net.join(n1).unwrap();
//! let t2 = net.join(n2).unwrap();
//! let t3 = net.join(n3).unwrap();
//! for t in [&t1, &t2, &t3] {
//!     t.serve(Arc::new(Pong));
//! }
//!
//! // n1 asks n2 and n3.
//! assert_eq!(t1.request(n2, Frame::Ping { nonce: 1 }).await, Ok(Frame::Pong { nonce: 1 }));
//! assert_eq!(t1.request(n3, Frame::Ping { nonce: 2 }).await, Ok(Frame::Pong { nonce: 2 }));
//!
//! // Cut n1 off from n2: n1 still reaches n3, and n3 still reaches n2.
//! net.partition(n1, n2);
//! let err = t1.request(n2, Frame::Ping { nonce: 3 }).await.unwrap_err();
//! assert!(matches!(err, TransportError::Unreachable { reason, .. } if reason == reason::PARTITIONED));
//! assert!(t1.request(n3, Frame::Ping { nonce: 4 }).await.is_ok());
//! assert!(t3.request(n2, Frame::Ping { nonce: 5 }).await.is_ok());
//! net.heal(n1, n2);
//!
//! // n3 dies, and comes back as a fresh node under its old name.
//! net.kill(n3);
//! assert!(t1.request(n3, Frame::Ping { nonce: 6 }).await.is_err());
//! let t3 = net.revive(n3).unwrap();
//! t3.serve(Arc::new(Pong));
//! assert!(t1.request(n3, Frame::Ping { nonce: 7 }).await.is_ok());
//!
//! // Refused requests never left n1.
//! assert_eq!(net.stats(n1).frames_sent, 4);
//! assert_eq!(net.stats(n1).requests_refused, 2);
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::Duration;

use goldfish_core::transport::{BoxFuture, Service, Transport, TransportError};
use goldfish_core::wire::{self, Frame, WireError};
use goldfish_core::NodeId;
use tokio::sync::{oneshot, watch};

/// The `reason` strings of the [`TransportError::Unreachable`] errors this
/// network returns, so tests can tell the faults apart.
pub mod reason {
    /// No node of that name ever joined the network.
    pub const UNKNOWN: &str = "unknown node";
    /// The node joined but has not called [`serve`](goldfish_core::transport::Transport::serve).
    pub const NOT_SERVING: &str = "node has no service";
    /// The node was killed (before the request arrived, or while its handler ran).
    pub const KILLED: &str = "killed";
    /// The two nodes are partitioned.
    pub const PARTITIONED: &str = "partitioned";
    /// The network dropped the request; the service never saw it.
    pub const DROPPED: &str = "dropped";
    /// The service handled the request but the network lost its answer.
    pub const ANSWER_DROPPED: &str = "answer dropped";
    /// The handler's task ended without an answer (it panicked).
    pub const HANDLER_LOST: &str = "handler ended without an answer";
}

/// The seed [`MemNetwork::new`] uses.
pub const DEFAULT_SEED: u64 = u64::from_be_bytes(*b"goldfish");

/// Faults on one directed link `from -> to` (set with
/// [`MemNetwork::set_faults`]), or on every link (set with
/// [`MemNetwork::set_default_faults`]).
///
/// A link's own faults add to the network-wide ones: the delays add up, and
/// each rate is rolled once for the link and once for the network (a request
/// is dropped if either roll says so). Rates are probabilities: `0.0` (or
/// anything not above it, NaN included) never fires, `1.0` always does.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkFaults {
    /// How long each frame travelling `from -> to` takes: the requests `from`
    /// sends `to`, and the answers `from` gives to `to`'s requests. A round
    /// trip takes the delay of `from -> to` plus that of `to -> from`.
    pub delay: Duration,
    /// The chance that a request `from -> to` is lost before it arrives.
    pub drop_rate: f64,
    /// The chance that a request `from -> to` is handled but its answer lost.
    pub drop_answer_rate: f64,
    /// The chance that a request `from -> to` is delivered twice.
    pub duplicate_rate: f64,
}

/// What one node sent and received, counted since it first joined (stats are
/// kept by name, across kills and revivals) or since [`MemNetwork::reset_stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Frames this node put on the network: its requests (once each, even if
    /// the network then duplicates or drops them) and its answers.
    pub frames_sent: u64,
    /// The encoded bytes of those frames.
    pub bytes_sent: u64,
    /// Frames that reached this node: requests handed to its service (a
    /// duplicated request counts twice) and answers to its own requests.
    pub frames_received: u64,
    /// The encoded bytes of those frames.
    pub bytes_received: u64,
    /// This node's requests that never left it: the target was unknown,
    /// killed, not serving or partitioned, or the frame was too large.
    pub requests_refused: u64,
    /// This node's requests lost on the way: dropped by a fault, or cut off
    /// by a partition raised while they were in flight.
    pub requests_dropped: u64,
    /// This node's requests the network delivered twice.
    pub requests_duplicated: u64,
    /// Answers to this node's requests that were lost after the service
    /// handled the request: dropped by a fault, or cut off by a partition
    /// raised while the request was in flight.
    pub answers_dropped: u64,
}

/// Why [`MemNetwork::join`] or [`MemNetwork::revive`] refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// A live node already has this name; kill it first to replace it.
    Alive(NodeId),
    /// No node of this name ever joined, so there is nothing to revive.
    Unknown(NodeId),
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Alive(n) => write!(f, "a live node is already named `{n}`"),
            JoinError::Unknown(n) => write!(f, "no node named `{n}` ever joined"),
        }
    }
}

impl std::error::Error for JoinError {}

/// The in-memory network: the hub every [`MemTransport`] talks through, and
/// the handle tests break it with. Cheap to clone; clones share the network.
///
/// See the [crate docs](crate) for what each fault does.
#[derive(Clone)]
pub struct MemNetwork {
    state: Arc<Mutex<State>>,
}

impl Default for MemNetwork {
    fn default() -> Self {
        MemNetwork::new()
    }
}

impl fmt::Debug for MemNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        let mut live: Vec<_> = st
            .nodes
            .iter()
            .filter(|(_, n)| !n.life.is_dead())
            .map(|(id, _)| *id)
            .collect();
        let mut killed: Vec<_> = st
            .nodes
            .iter()
            .filter(|(_, n)| n.life.is_dead())
            .map(|(id, _)| *id)
            .collect();
        let mut partitions: Vec<_> = st.partitions.iter().copied().collect();
        live.sort();
        killed.sort();
        partitions.sort();
        f.debug_struct("MemNetwork")
            .field("live", &live)
            .field("killed", &killed)
            .field("partitions", &partitions)
            .field("max_frame", &st.max_frame)
            .finish_non_exhaustive()
    }
}

impl MemNetwork {
    /// An empty network with no faults, [`wire::MAX_FRAME`] as its frame
    /// limit and [`DEFAULT_SEED`] for its random faults.
    pub fn new() -> MemNetwork {
        MemNetwork::with_seed(DEFAULT_SEED)
    }

    /// An empty network whose random faults draw from `seed`.
    pub fn with_seed(seed: u64) -> MemNetwork {
        MemNetwork {
            state: Arc::new(Mutex::new(State {
                nodes: HashMap::new(),
                max_frame: wire::MAX_FRAME,
                partitions: HashSet::new(),
                default_faults: LinkFaults::default(),
                links: HashMap::new(),
                pending: HashMap::new(),
                rng: Rng::new(seed),
                stats: HashMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ----- membership -----

    /// Adds `node` to the network and returns its transport. The node is
    /// reachable once it [`serve`](Transport::serve)s; until then requests to
    /// it fail with [`reason::NOT_SERVING`].
    ///
    /// Joining under the name of a killed node brings up a fresh node under
    /// that name (as [`revive`](Self::revive) does); joining under the name
    /// of a live node is an error ([`JoinError::Alive`]).
    pub fn join(&self, node: NodeId) -> Result<MemTransport, JoinError> {
        let mut st = self.lock();
        if st.nodes.get(&node).is_some_and(|n| !n.life.is_dead()) {
            return Err(JoinError::Alive(node));
        }
        Ok(self.incarnate(&mut st, node))
    }

    /// Brings a killed node back as a fresh node under its old name: a new
    /// transport with no service yet (call [`serve`](Transport::serve) on
    /// it). The old transport stays dead. Partitions and link faults that
    /// name the node still apply; its stats go on counting.
    pub fn revive(&self, node: NodeId) -> Result<MemTransport, JoinError> {
        let mut st = self.lock();
        match st.nodes.get(&node) {
            None => Err(JoinError::Unknown(node)),
            Some(n) if !n.life.is_dead() => Err(JoinError::Alive(node)),
            Some(_) => Ok(self.incarnate(&mut st, node)),
        }
    }

    fn incarnate(&self, st: &mut State, node: NodeId) -> MemTransport {
        let life = Arc::new(Life::new());
        st.nodes.insert(
            node,
            Node {
                life: life.clone(),
                service: None,
            },
        );
        st.stats.entry(node).or_default();
        MemTransport {
            net: self.clone(),
            node,
            life,
        }
    }

    /// Kills `node`, as a crash would. At once:
    ///
    /// - new requests to it fail with [`reason::KILLED`];
    /// - requests to it in flight whose handler has not answered yet fail for
    ///   their callers with [`reason::KILLED`], and their handlers are
    ///   cancelled (their futures dropped); answers it had already sent
    ///   still arrive;
    /// - requests it makes, and its own requests in flight, fail with
    ///   [`TransportError::Closed`]; requests it had already sent still run
    ///   on their targets;
    /// - its service is dropped, and its transport stays dead for good.
    ///
    /// [`revive`](Self::revive) (or [`join`](Self::join)) brings up a fresh
    /// node under the name. Returns whether a live node was killed.
    pub fn kill(&self, node: NodeId) -> bool {
        let service = {
            let mut st = self.lock();
            match st.nodes.get_mut(&node) {
                Some(n) if !n.life.is_dead() => {
                    n.life.kill();
                    n.service.take()
                }
                _ => return false,
            }
        };
        // Dropped outside the lock: its Drop may call back into the network.
        drop(service);
        true
    }

    /// Whether a live node has this name.
    pub fn is_alive(&self, node: NodeId) -> bool {
        self.lock()
            .nodes
            .get(&node)
            .is_some_and(|n| !n.life.is_dead())
    }

    /// The live nodes, sorted by name.
    pub fn nodes(&self) -> Vec<NodeId> {
        let st = self.lock();
        let mut nodes: Vec<_> = st
            .nodes
            .iter()
            .filter(|(_, n)| !n.life.is_dead())
            .map(|(id, _)| *id)
            .collect();
        nodes.sort();
        nodes
    }

    // ----- frame size -----

    /// The largest frame, in encoded bytes, the network carries.
    pub fn max_frame(&self) -> usize {
        self.lock().max_frame
    }

    /// Sets the largest frame the network carries (requests and answers).
    /// A request over it fails with [`TransportError::TooLarge`] and reaches
    /// no one; an answer over it fails the request the same way, after the
    /// service ran.
    pub fn set_max_frame(&self, max: usize) {
        self.lock().max_frame = max;
    }

    // ----- partitions -----

    /// Cuts `a` off from `b`, both ways, until [`heal`](Self::heal): requests
    /// between them fail with [`reason::PARTITIONED`] and reach no service.
    /// A request already in flight is cut off too if the partition is still
    /// there when it arrives (it is lost, [`NodeStats::requests_dropped`]) or
    /// when its answer arrives (the answer is lost,
    /// [`NodeStats::answers_dropped`]). Partitions outlive kills.
    pub fn partition(&self, a: NodeId, b: NodeId) {
        self.lock().partitions.insert(pair(a, b));
    }

    /// Removes the partition between `a` and `b`.
    pub fn heal(&self, a: NodeId, b: NodeId) {
        self.lock().partitions.remove(&pair(a, b));
    }

    /// Removes every partition.
    pub fn heal_all(&self) {
        self.lock().partitions.clear();
    }

    /// Whether `a` and `b` are partitioned.
    pub fn is_partitioned(&self, a: NodeId, b: NodeId) -> bool {
        self.lock().partitioned(a, b)
    }

    // ----- link faults -----

    /// Makes every frame travelling `from -> to` take `delay` (on top of the
    /// network-wide delay): `from`'s requests to `to`, and `from`'s answers
    /// to `to`'s requests. Uses [`tokio::time::sleep`], so a paused test
    /// clock sees it as virtual time.
    pub fn delay(&self, from: NodeId, to: NodeId, delay: Duration) {
        self.lock().links.entry((from, to)).or_default().delay = delay;
    }

    /// Makes every frame on every link take `delay` (on top of each link's own).
    pub fn delay_all(&self, delay: Duration) {
        self.lock().default_faults.delay = delay;
    }

    /// Sets the faults of the directed link `from -> to` (they add to the
    /// network-wide ones; see [`LinkFaults`]).
    pub fn set_faults(&self, from: NodeId, to: NodeId, faults: LinkFaults) {
        self.lock().links.insert((from, to), faults);
    }

    /// The faults of the directed link `from -> to` (without the
    /// network-wide ones).
    pub fn faults(&self, from: NodeId, to: NodeId) -> LinkFaults {
        self.lock()
            .links
            .get(&(from, to))
            .copied()
            .unwrap_or_default()
    }

    /// Sets the faults of every link (each link's own faults add to them).
    pub fn set_default_faults(&self, faults: LinkFaults) {
        self.lock().default_faults = faults;
    }

    /// The faults of every link.
    pub fn default_faults(&self) -> LinkFaults {
        self.lock().default_faults
    }

    /// Removes every link fault, the network-wide ones and the pending
    /// `*_next` counts. Partitions and kills stay.
    pub fn clear_faults(&self) {
        let mut st = self.lock();
        st.links.clear();
        st.default_faults = LinkFaults::default();
        st.pending.clear();
    }

    /// Drops the next `n` requests `from -> to` that would otherwise be
    /// delivered (refused ones do not count): they never reach the service,
    /// and the caller gets [`reason::DROPPED`] after the link's delay. Sets
    /// the count (`0` cancels); the count is used before the drop rates.
    pub fn drop_next(&self, from: NodeId, to: NodeId, n: u64) {
        self.lock().pending.entry((from, to)).or_default().drop = n;
    }

    /// Loses the answers of the next `n` requests `from -> to` that are
    /// delivered: the service handles each request, then the caller gets
    /// [`reason::ANSWER_DROPPED`] instead of its answer (the message may
    /// have run). Sets the count (`0` cancels).
    pub fn drop_answers_next(&self, from: NodeId, to: NodeId, n: u64) {
        self.lock()
            .pending
            .entry((from, to))
            .or_default()
            .drop_answers = n;
    }

    /// Delivers each of the next `n` delivered requests `from -> to` twice:
    /// the service is called two times with equal frames (decoded from the
    /// same bytes), each in its own task, spawned one after the other (on a
    /// multi-threaded runtime they may run at the same time); the caller gets
    /// whichever answer comes first and the network discards the other.
    /// Sets the count (`0` cancels). A dropped request is not duplicated.
    pub fn duplicate_next(&self, from: NodeId, to: NodeId, n: u64) {
        self.lock().pending.entry((from, to)).or_default().duplicate = n;
    }

    // ----- stats -----

    /// What `node` sent and received (zeros for a name never seen).
    pub fn stats(&self, node: NodeId) -> NodeStats {
        self.lock().stats.get(&node).copied().unwrap_or_default()
    }

    /// Sets every node's stats back to zero.
    pub fn reset_stats(&self) {
        self.lock().stats.clear();
    }

    // ----- the request path -----

    /// Checks, encodes and routes a request; decides its faults.
    fn plan(
        &self,
        from: NodeId,
        life: &Life,
        to: NodeId,
        frame: &Frame,
    ) -> Result<Plan, TransportError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        if life.is_dead() {
            return Err(TransportError::Closed);
        }
        let max = st.max_frame;
        let bytes = match wire::encode(frame, max) {
            Ok(bytes) => bytes,
            Err(e) => {
                st.stats_mut(from).requests_refused += 1;
                return Err(wire_error(e));
            }
        };
        let route = match st.nodes.get(&to) {
            None => Err(reason::UNKNOWN),
            Some(n) if n.life.is_dead() => Err(reason::KILLED),
            Some(Node { service: None, .. }) => Err(reason::NOT_SERVING),
            Some(Node {
                life,
                service: Some(service),
            }) => {
                if st.partitioned(from, to) {
                    Err(reason::PARTITIONED)
                } else {
                    Ok((life.clone(), service.clone()))
                }
            }
        };
        let (target, service) = match route {
            Ok(route) => route,
            Err(why) => {
                st.stats_mut(from).requests_refused += 1;
                return Err(unreachable(to, why));
            }
        };
        let sent = st.stats_mut(from);
        sent.frames_sent += 1;
        sent.bytes_sent += bytes.len() as u64;
        let delay = st.delay(from, to);
        if st.fires(from, to, |f| f.drop_rate, |p| &mut p.drop) {
            st.stats_mut(from).requests_dropped += 1;
            return Ok(Plan::Dropped { delay });
        }
        let duplicate = st.fires(from, to, |f| f.duplicate_rate, |p| &mut p.duplicate);
        if duplicate {
            st.stats_mut(from).requests_duplicated += 1;
        }
        let drop_answer = st.fires(from, to, |f| f.drop_answer_rate, |p| &mut p.drop_answers);
        let (tx, rx) = oneshot::channel();
        let delivery = Arc::new(Delivery {
            net: self.clone(),
            from,
            to,
            bytes,
            max,
            service,
            target,
            delay,
            drop_answer,
            reply: Mutex::new(Some(tx)),
        });
        Ok(Plan::Deliver {
            delivery,
            copies: if duplicate { 2 } else { 1 },
            answer: rx,
        })
    }
}

/// One node's end of a [`MemNetwork`]: its [`Transport`].
///
/// Cheap to clone; clones are the same node. A transport belongs to one life
/// of its node: once the node is [killed](MemNetwork::kill) it stays dead
/// (requests fail with [`TransportError::Closed`], [`serve`](Transport::serve)
/// does nothing), even if the name is revived.
#[derive(Clone)]
pub struct MemTransport {
    net: MemNetwork,
    node: NodeId,
    life: Arc<Life>,
}

impl fmt::Debug for MemTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemTransport")
            .field("node", &self.node)
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl MemTransport {
    /// The network this node is on.
    pub fn network(&self) -> &MemNetwork {
        &self.net
    }

    /// Whether this node (this life of it) has not been killed.
    pub fn is_alive(&self) -> bool {
        !self.life.is_dead()
    }

    async fn send(&self, to: NodeId, frame: Frame) -> Result<Frame, TransportError> {
        let plan = self.net.plan(self.node, &self.life, to, &frame)?;
        let wait = async move {
            match plan {
                Plan::Dropped { delay } => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    Err(unreachable(to, reason::DROPPED))
                }
                Plan::Deliver {
                    delivery,
                    copies,
                    answer,
                } => {
                    for _ in 0..copies {
                        tokio::spawn(delivery.clone().run());
                    }
                    drop(delivery);
                    answer
                        .await
                        .unwrap_or_else(|_| Err(unreachable(to, reason::HANDLER_LOST)))
                }
            }
        };
        race(
            async {
                self.life.died().await;
                Err(TransportError::Closed)
            },
            wait,
        )
        .await
    }
}

impl Transport for MemTransport {
    fn local(&self) -> NodeId {
        self.node
    }

    /// This node's counters from [`MemNetwork::stats`].
    fn stats(&self) -> goldfish_core::transport::TransportStats {
        let s = self.network().stats(self.node);
        goldfish_core::transport::TransportStats {
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            requests_sent: s.frames_sent,
            requests_served: s.frames_received,
            refused: s.requests_refused,
        }
    }

    /// Sends `frame` to `to` through the network (see the [crate docs](crate)
    /// for the errors and faults). The request leaves when the future is first
    /// polled; from then on, dropping the future does not cancel the
    /// callee's handler.
    fn request(&self, to: NodeId, frame: Frame) -> BoxFuture<'_, Result<Frame, TransportError>> {
        Box::pin(self.send(to, frame))
    }

    /// Registers (or replaces) this node's service. Does nothing once the
    /// node has been killed.
    ///
    /// The network holds the service until the node is killed; a service
    /// that holds its own transport forms a reference cycle that only
    /// [`MemNetwork::kill`] breaks (harmless in tests).
    fn serve(&self, service: Arc<dyn Service>) {
        let old = {
            let mut st = self.net.lock();
            match st.nodes.get_mut(&self.node) {
                Some(n) if Arc::ptr_eq(&n.life, &self.life) && !n.life.is_dead() => {
                    n.service.replace(service)
                }
                _ => Some(service),
            }
        };
        // Dropped outside the lock: its Drop may call back into the network.
        drop(old);
    }
}

// ----- internals -----

/// One life of a node: set to dead by `kill`, never back.
struct Life {
    dead: watch::Sender<bool>,
}

impl Life {
    fn new() -> Life {
        Life {
            dead: watch::Sender::new(false),
        }
    }

    fn is_dead(&self) -> bool {
        *self.dead.borrow()
    }

    fn kill(&self) {
        self.dead.send_replace(true);
    }

    /// Completes once the node is dead (at once if it already is).
    async fn died(&self) {
        let mut rx = self.dead.subscribe();
        // An error means the sender is gone, which `&self` rules out.
        let _ = rx.wait_for(|dead| *dead).await;
    }
}

struct Node {
    life: Arc<Life>,
    service: Option<Arc<dyn Service>>,
}

/// Counted faults still to come on a link.
#[derive(Default)]
struct Pending {
    drop: u64,
    drop_answers: u64,
    duplicate: u64,
}

struct State {
    nodes: HashMap<NodeId, Node>,
    max_frame: usize,
    /// Unordered pairs, smaller name first.
    partitions: HashSet<(NodeId, NodeId)>,
    default_faults: LinkFaults,
    links: HashMap<(NodeId, NodeId), LinkFaults>,
    pending: HashMap<(NodeId, NodeId), Pending>,
    rng: Rng,
    stats: HashMap<NodeId, NodeStats>,
}

impl State {
    fn stats_mut(&mut self, node: NodeId) -> &mut NodeStats {
        self.stats.entry(node).or_default()
    }

    fn partitioned(&self, a: NodeId, b: NodeId) -> bool {
        self.partitions.contains(&pair(a, b))
    }

    fn delay(&self, from: NodeId, to: NodeId) -> Duration {
        let link = self
            .links
            .get(&(from, to))
            .map_or(Duration::ZERO, |f| f.delay);
        link.saturating_add(self.default_faults.delay)
    }

    /// Whether a fault fires for a request `from -> to`: a pending count
    /// first, then the link's rate, then the network's.
    fn fires(
        &mut self,
        from: NodeId,
        to: NodeId,
        rate: fn(&LinkFaults) -> f64,
        count: fn(&mut Pending) -> &mut u64,
    ) -> bool {
        if let Some(pending) = self.pending.get_mut(&(from, to)) {
            let n = count(pending);
            if *n > 0 {
                *n -= 1;
                return true;
            }
        }
        let link = self.links.get(&(from, to)).map_or(0.0, rate);
        let all = rate(&self.default_faults);
        self.rng.chance(link) || self.rng.chance(all)
    }
}

enum Plan {
    /// The network lost the request.
    Dropped { delay: Duration },
    /// Spawn `copies` deliveries and wait for the first answer.
    Deliver {
        delivery: Arc<Delivery>,
        copies: u8,
        answer: oneshot::Receiver<Result<Frame, TransportError>>,
    },
}

/// A request on its way, shared by its copies (two if duplicated).
struct Delivery {
    net: MemNetwork,
    from: NodeId,
    to: NodeId,
    bytes: Vec<u8>,
    max: usize,
    service: Arc<dyn Service>,
    target: Arc<Life>,
    delay: Duration,
    drop_answer: bool,
    /// Taken by the first copy to finish.
    reply: Mutex<Option<oneshot::Sender<Result<Frame, TransportError>>>>,
}

impl Delivery {
    /// One copy: travel, handle (unless the target dies first), answer.
    async fn run(self: Arc<Self>) {
        let handled = race(
            async {
                self.target.died().await;
                Err(Lost::Killed)
            },
            self.arrive_and_handle(),
        )
        .await;
        match handled {
            Ok(answer) => self.carry_answer(answer).await,
            Err(Lost::Killed) => self.finish(|_| Err(unreachable(self.to, reason::KILLED))),
            Err(Lost::Partitioned) => self.finish(|st| {
                st.stats_mut(self.from).requests_dropped += 1;
                Err(unreachable(self.to, reason::PARTITIONED))
            }),
            Err(Lost::Wire(e)) => self.finish(|_| Err(e)),
        }
    }

    async fn arrive_and_handle(&self) -> Result<Frame, Lost> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        {
            let mut st = self.net.lock();
            if st.partitioned(self.from, self.to) {
                return Err(Lost::Partitioned);
            }
            let got = st.stats_mut(self.to);
            got.frames_received += 1;
            got.bytes_received += self.bytes.len() as u64;
        }
        let frame = wire::decode(&self.bytes, self.max).map_err(|e| Lost::Wire(wire_error(e)))?;
        Ok(self.service.handle(self.from, frame).await)
    }

    async fn carry_answer(&self, answer: Frame) {
        let max = self.net.max_frame();
        let bytes = match wire::encode(&answer, max) {
            Ok(bytes) => bytes,
            Err(e) => return self.finish(|_| Err(wire_error(e))),
        };
        let delay = {
            let mut st = self.net.lock();
            let sent = st.stats_mut(self.to);
            sent.frames_sent += 1;
            sent.bytes_sent += bytes.len() as u64;
            st.delay(self.to, self.from)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let decoded = wire::decode(&bytes, max).map_err(wire_error);
        self.finish(|st| {
            let lost = if self.drop_answer {
                reason::ANSWER_DROPPED
            } else if st.partitioned(self.from, self.to) {
                reason::PARTITIONED
            } else {
                let got = st.stats_mut(self.from);
                got.frames_received += 1;
                got.bytes_received += bytes.len() as u64;
                return decoded;
            };
            st.stats_mut(self.from).answers_dropped += 1;
            Err(unreachable(self.to, lost))
        })
    }

    /// Gives the caller its result, if no other copy has and the caller still
    /// waits; `result` runs under the network's lock (to count stats) only then.
    fn finish(&self, result: impl FnOnce(&mut State) -> Result<Frame, TransportError>) {
        let Some(tx) = self
            .reply
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        if tx.is_closed() {
            return;
        }
        let result = result(&mut self.net.lock());
        let _ = tx.send(result);
    }
}

/// Why a copy of a request got no answer from the service.
enum Lost {
    Killed,
    Partitioned,
    Wire(TransportError),
}

/// xorshift64*: small, fast, and plenty for rolling faults.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 spreads nearby seeds apart; xorshift needs a non-zero state.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Rng(if z == 0 { 1 } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `p`; draws nothing unless `0 < p < 1`.
    fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        // The top 53 bits as a float in [0, 1).
        let x = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        x < p
    }
}

fn pair(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

fn unreachable(node: NodeId, why: &str) -> TransportError {
    TransportError::Unreachable {
        node,
        reason: why.to_owned(),
    }
}

fn wire_error(e: WireError) -> TransportError {
    match e {
        WireError::TooLarge { len, max } => TransportError::TooLarge { len, max },
        e => TransportError::Protocol(e.to_string()),
    }
}

/// Runs both futures; the first to finish wins (`first` on a tie).
async fn race<T>(first: impl Future<Output = T>, second: impl Future<Output = T>) -> T {
    let mut first = pin!(first);
    let mut second = pin!(second);
    poll_fn(|cx| {
        if let Poll::Ready(v) = first.as_mut().poll(cx) {
            return Poll::Ready(v);
        }
        second.as_mut().poll(cx)
    })
    .await
}
