//! The GoldFish Middleware: routes every message to the node that should run
//! it, and answers the frames other nodes send.
//!
//! - A message for a function deployed here goes to its dispatcher; core
//!   decides (with what the registry says of other nodes) whether to run it
//!   here or forward it.
//! - An addressed actor that is live here is served here. One that is not is
//!   looked up in the registry: forwarded to its owner, or claimed for this
//!   node first (the first claim wins, S2) and then activated here.
//! - Forwarded messages keep their id and deadline; the answer travels back
//!   on the same request. A duplicate (a transport retry) is attached to the
//!   message already here, or answered from the outcomes kept for a while,
//!   so the caller sees exactly one outcome and the guest runs once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, Weak};
use std::time::{Duration, Instant};

use goldfish_core::transport::{BoxFuture, Service};
use goldfish_core::wire::{Envelope, Failure, Frame, Outcome, Request};
use goldfish_core::{
    Decision, Elsewhere, FaultKind, MessageId, NodeId, Queue, RejectReason, Target,
};
use tokio::sync::oneshot;

use crate::abi::CallRequest;
use crate::dispatcher::{drive, may_inline, CallHandle, Function, Offer, Reply, Work};
use crate::node::NodeInner;
use crate::registry::RegistryError;

/// Most forwards a message may take (a bound against routing loops).
const MAX_HOPS: u8 = 4;
/// Outcomes of messages from other nodes, kept to answer duplicates.
const RECENT_CAP: usize = 16_384;
const RECENT_AGE: Duration = Duration::from_secs(300);

/// Recent outcomes of messages that came from other nodes.
#[derive(Default)]
pub(crate) struct Recent {
    map: HashMap<MessageId, Outcome>,
    order: VecDeque<(MessageId, Instant)>,
}

impl Recent {
    fn insert(&mut self, id: MessageId, o: Outcome) {
        let now = Instant::now();
        while let Some(&(old, at)) = self.order.front() {
            if self.order.len() < RECENT_CAP && now.duration_since(at) < RECENT_AGE {
                break;
            }
            self.order.pop_front();
            self.map.remove(&old);
        }
        if self.map.insert(id, o).is_none() {
            self.order.push_back((id, now));
        }
    }
}

fn reply(waiter: Option<Reply>, outcome: Outcome) {
    if let Some(w) = waiter {
        let _ = w.send(outcome);
    }
}

fn lost(detail: impl Into<String>) -> Outcome {
    Outcome::Failed(Failure {
        kind: FaultKind::NodeLost,
        detail: detail.into(),
    })
}

impl NodeInner {
    /// Keeps the outcome of a message from another node, for its duplicates.
    pub(crate) fn remember(&self, id: MessageId, o: Outcome) {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, o);
    }

    pub(crate) fn recalled(&self, id: MessageId) -> Option<Outcome> {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .get(&id)
            .cloned()
    }

    /// A peer with room for `f` (round robin among them), for spill-over.
    fn peer_with(&self, f: goldfish_core::FunctionId, salt: u64) -> Option<NodeId> {
        let roomy: Vec<NodeId> = self
            .membership
            .peers(f, self.name)
            .into_iter()
            .filter(|(_, free)| *free > 0)
            .map(|(n, _)| n)
            .collect();
        (!roomy.is_empty()).then(|| roomy[(salt as usize) % roomy.len()])
    }

    /// A node that runs `f`: one with room if any (round robin), else any.
    async fn node_for(self: &Arc<Self>, f: goldfish_core::FunctionId, salt: u64) -> Option<NodeId> {
        if !self.membership.knows(f) {
            crate::membership::refresh(self).await;
        }
        let peers = self.membership.peers(f, self.name);
        let roomy: Vec<NodeId> = peers
            .iter()
            .filter(|(_, free)| *free > 0)
            .map(|(n, _)| *n)
            .collect();
        let pool: Vec<NodeId> = if roomy.is_empty() {
            peers.iter().map(|(n, _)| *n).collect()
        } else {
            roomy
        };
        (!pool.is_empty()).then(|| pool[(salt as usize) % pool.len()])
    }

    /// Where `actor` lives: the cache, else the registry.
    async fn find_owner(
        &self,
        actor: goldfish_core::ActorId,
    ) -> Result<Option<NodeId>, RegistryError> {
        if let Some(n) = self.membership.cached_owner(&actor) {
            return Ok(Some(n));
        }
        let owner = self.registry.owner(actor).await?;
        if let Some(n) = owner {
            self.membership.cache_owner(actor, n);
        }
        Ok(owner)
    }

    /// Hands a message to the platform; its outcome goes to `waiter`. Work
    /// for functions here is appended to `work` for the caller to carry out.
    pub(crate) fn submit_into(
        self: &Arc<Self>,
        env: Envelope,
        waiter: Option<Reply>,
        remote: bool,
        work: &mut Work,
    ) {
        if self.closing.load(Ordering::Acquire) {
            return reply(waiter, Outcome::rejected(RejectReason::ShuttingDown));
        }
        let f = self.function(env.target.function());
        if self.transport.is_none() {
            // A single node: here or nowhere.
            let Some(f) = f else {
                return reply(waiter, Outcome::rejected(RejectReason::UnknownFunction));
            };
            return self.offer(&f, env, waiter, Elsewhere::Nowhere, remote, work);
        }
        let Some(f) = f else {
            let node = self.clone();
            self.runtime
                .spawn(async move { node.route_elsewhere(env, waiter).await });
            return;
        };
        match env.target {
            Target::Actor(..) => match f.peek(&env, Elsewhere::Nowhere) {
                // Live here: serve it here.
                Decision::Deliver(_) | Decision::Enqueue(Queue::Actor(_)) | Decision::Reject(_) => {
                    self.offer(&f, env, waiter, Elsewhere::Nowhere, remote, work)
                }
                // Not live here: ask the registry where it lives.
                _ => {
                    let node = self.clone();
                    self.runtime
                        .spawn(async move { node.route_addressed(f, env, waiter, remote).await });
                }
            },
            Target::Function(name) => {
                let spare = self
                    .peer_with(name, env.id.0 as u64)
                    .map_or(Elsewhere::Nowhere, Elsewhere::Spare);
                self.offer(&f, env, waiter, spare, remote, work)
            }
        }
    }

    fn offer(
        self: &Arc<Self>,
        f: &Arc<Function>,
        env: Envelope,
        waiter: Option<Reply>,
        elsewhere: Elsewhere,
        remote: bool,
        work: &mut Work,
    ) {
        match f.offer(env, waiter, elsewhere, remote) {
            Offer::Accepted(w) => work.extend(w),
            Offer::Refused(r, waiter) => reply(waiter, Outcome::rejected(r)),
            Offer::Forward(n, env, waiter) => {
                f.stats.forwarded.fetch_add(1, Ordering::Relaxed);
                let node = self.clone();
                self.runtime.spawn(async move {
                    node.forward(n, *env, waiter).await;
                });
            }
        }
    }

    /// An addressed actor not live here: its owner, or claim it.
    async fn route_addressed(
        self: Arc<Self>,
        f: Arc<Function>,
        env: Envelope,
        waiter: Option<Reply>,
        remote: bool,
    ) {
        let Some(actor) = env.target.actor() else {
            return;
        };
        let owner = match self.find_owner(actor).await {
            Ok(Some(n)) => n,
            Ok(None) => match self.registry.claim(actor, self.name).await {
                Ok(n) => n,
                Err(RegistryError::NoLease(_)) => {
                    return reply(waiter, Outcome::rejected(RejectReason::Unavailable))
                }
                Err(e) => return reply(waiter, lost(e.to_string())),
            },
            Err(e) => return reply(waiter, lost(e.to_string())),
        };
        self.membership.cache_owner(actor, owner);
        if owner == self.name {
            let mut work = Work::new();
            let id = env.id;
            self.offer(&f, env, waiter, Elsewhere::Nowhere, remote, &mut work);
            drive(&self, work, Some(id), 0);
        } else {
            f.stats.forwarded.fetch_add(1, Ordering::Relaxed);
            if !self.forward(owner, env, waiter).await {
                self.membership.forget_owner(&actor);
            }
        }
    }

    /// A function not deployed here: the addressed actor's owner, or a node
    /// that runs the function.
    async fn route_elsewhere(self: Arc<Self>, env: Envelope, waiter: Option<Reply>) {
        let actor = env.target.actor();
        let owner = match actor {
            Some(a) => match self.find_owner(a).await {
                Ok(o) => o.filter(|n| *n != self.name),
                Err(e) => return reply(waiter, lost(e.to_string())),
            },
            None => None,
        };
        let target = match owner {
            Some(n) => Some(n),
            None => self.node_for(env.target.function(), env.id.0 as u64).await,
        };
        match target {
            Some(n) => {
                if !self.forward(n, env, waiter).await {
                    if let Some(a) = actor {
                        self.membership.forget_owner(&a);
                    }
                }
            }
            None => reply(waiter, Outcome::rejected(RejectReason::UnknownFunction)),
        }
    }

    /// Sends a message to node `to` and hands its answer to the waiter.
    pub(crate) async fn forward(
        self: &Arc<Self>,
        to: NodeId,
        mut env: Envelope,
        waiter: Option<Reply>,
    ) -> bool {
        let Some(transport) = self.transport.clone() else {
            reply(waiter, Outcome::rejected(RejectReason::UnknownFunction));
            return true;
        };
        if env.hops >= MAX_HOPS {
            tracing::warn!(message = %env.id, target = %env.target, "dropped after {MAX_HOPS} forwards");
            reply(waiter, Outcome::rejected(RejectReason::Overloaded));
            return true;
        }
        env.hops += 1;
        let env_actor = env.target.actor();
        env.reply_to = waiter.as_ref().map(|_| self.name);
        let id = env.id;
        let frame = Frame::Request(Request::from_envelope(env, self.clock.now()));
        let actor = env_actor;
        match transport.request(to, frame).await {
            Ok(Frame::Outcome { outcome, .. }) => {
                if let (Outcome::Rejected(RejectReason::Unavailable), Some(a)) = (&outcome, actor) {
                    // `to` no longer hosts it (its lease lapsed): ask the registry next time.
                    self.membership.forget_owner(&a);
                }
                reply(waiter, outcome)
            }
            Ok(Frame::Accepted { .. }) => {}
            Ok(other) => reply(waiter, lost(format!("node `{to}` answered {other:?}"))),
            Err(goldfish_core::transport::TransportError::TooLarge { len, max }) => {
                tracing::debug!(message = %id, node = %to, len, max, "too large for the wire");
                reply(waiter, Outcome::rejected(RejectReason::TooLarge));
            }
            Err(e) => {
                tracing::debug!(message = %id, node = %to, error = %e, "forward failed");
                reply(waiter, lost(e.to_string()));
                return false;
            }
        }
        true
    }

    /// A guest's `call`: submitted here and, while it can be, answered on
    /// this thread.
    pub(crate) fn call(
        self: &Arc<Self>,
        req: CallRequest,
        deadline: goldfish_core::Tick,
        sender: &goldfish_core::ActorId,
        depth: u32,
    ) -> CallHandle {
        let mut env = self.envelope(
            req.target,
            req.payload,
            Some(*sender),
            Some(self.name),
            None,
        );
        env.deadline = deadline;
        let id = env.id;
        let (tx, mut rx) = oneshot::channel();
        let mut work = Work::new();
        self.submit_into(env, Some(tx), false, &mut work);
        if may_inline(depth) {
            drive(self, work, Some(id), depth);
        } else if !work.is_empty() {
            let node = self.clone();
            self.runtime
                .spawn(async move { drive(&node, work, None, 0) });
        }
        match rx.try_recv() {
            Ok(o) => CallHandle::Ready(o),
            Err(oneshot::error::TryRecvError::Empty) => CallHandle::Waiting(rx),
            Err(oneshot::error::TryRecvError::Closed) => {
                CallHandle::Ready(lost("the call was dropped"))
            }
        }
    }

    /// Answers a request from another node.
    async fn serve_request(self: Arc<Self>, from: NodeId, req: Request) -> Frame {
        let env = req.into_envelope(self.clock.now());
        let id = env.id;
        if let Some(outcome) = self.recalled(id) {
            tracing::debug!(message = %id, %from, "duplicate answered from recent outcomes");
            return Frame::Outcome { id, outcome };
        }
        let mut work = Work::new();
        if env.reply_to.is_none() {
            self.submit_into(env, None, true, &mut work);
            drive(&self, work, None, 0);
            return Frame::Accepted { id };
        }
        let (tx, rx) = oneshot::channel();
        self.submit_into(env, Some(tx), true, &mut work);
        drive(&self, work, Some(id), 0);
        let outcome = rx.await.unwrap_or_else(|_| lost("the message was dropped"));
        Frame::Outcome { id, outcome }
    }
}

/// The node's side of the transport: what it answers to other nodes.
pub(crate) struct Inbound(pub(crate) Weak<NodeInner>);

impl Service for Inbound {
    fn handle(&self, from: NodeId, frame: Frame) -> BoxFuture<'_, Frame> {
        let node = self.0.upgrade();
        Box::pin(async move {
            let Some(node) = node else {
                return Frame::Outcome {
                    id: MessageId(0),
                    outcome: Outcome::rejected(RejectReason::ShuttingDown),
                };
            };
            match frame {
                Frame::Request(req) => node.serve_request(from, req).await,
                Frame::Ping { nonce } => Frame::Pong { nonce },
                Frame::Hello { .. } => Frame::Hello { node: node.name },
                other => {
                    tracing::warn!(%from, "unexpected frame {other:?}");
                    Frame::Hello { node: node.name }
                }
            }
        })
    }
}
