//! The registry: which nodes are alive (membership leases), where peers can be
//! reached, what each runs and how much room it has, and where each addressed
//! actor lives.
//!
//! Placement is claimed atomically (the first claim wins) and is bound to the
//! owner's lease: when a node's lease expires, its placements are void and its
//! addressed actors re-activate elsewhere on their next message (with fresh
//! state: short-term memory by design). This is what keeps one live activation
//! per `ActorId` across the cluster (S2), together with the node's side of the
//! contract: a node that cannot renew its lease stops its addressed actors
//! before the lease can expire (see `host::node`).
//!
//! [`MemRegistry`] serves one node, or many nodes in one process;
//! [`RedisRegistry`] a cluster of processes, against a real Redis server.

use std::time::Duration;

use goldfish_core::transport::BoxFuture;
use goldfish_core::{ActorId, FunctionId, NodeId};
use serde::{Deserialize, Serialize};

mod mem;
mod redis;

pub use mem::MemRegistry;
pub use redis::RedisRegistry;

/// A registry that could not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry cannot be reached or failed.
    #[error("registry unavailable: {0}")]
    Unavailable(String),
    /// The node has no live lease (it never joined, or its lease expired).
    #[error("node `{0}` holds no live lease; it must heartbeat first")]
    NoLease(NodeId),
}

/// A deployed function and how many more messages the node could start on
/// it right now (Suspended actors plus actors it may still create).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCapacity {
    /// The function.
    pub function: FunctionId,
    /// Room for new messages without waiting.
    pub free: u32,
}

/// What a node tells the cluster with every heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node.
    pub node: NodeId,
    /// Where peers reach it (a QUIC `host:port`), if it takes connections.
    pub address: Option<String>,
    /// What it runs.
    pub functions: Vec<FunctionCapacity>,
}

/// A node's membership lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Changes every time the node (re)joins after its lease lapsed; placements
    /// made under an older epoch are void.
    pub epoch: u64,
    /// How long the lease lasts from the heartbeat.
    pub ttl: Duration,
}

/// Where nodes and actors are.
pub trait Registry: Send + Sync + 'static {
    /// Joins or renews: stores `info` and sets the node's lease to `ttl` from
    /// now. A node whose lease had lapsed (or that never joined) gets a new epoch.
    fn heartbeat(
        &self,
        info: NodeInfo,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<Lease, RegistryError>>;

    /// Leaves at once: the lease, the info and the node's placements go.
    fn withdraw(&self, node: NodeId) -> BoxFuture<'_, Result<(), RegistryError>>;

    /// Every node with a live lease, as it last described itself.
    fn members(&self) -> BoxFuture<'_, Result<Vec<NodeInfo>, RegistryError>>;

    /// The node the addressed actor is placed on, if that node's lease (the
    /// epoch it claimed under) is still live.
    fn owner(&self, actor: ActorId) -> BoxFuture<'_, Result<Option<NodeId>, RegistryError>>;

    /// Places `actor` on `node` under its current lease, unless a live owner
    /// holds it; returns the owner after the call (`node` if the claim won,
    /// or if it held it already). `Err(NoLease)` if `node` has no live lease.
    fn claim(&self, actor: ActorId, node: NodeId) -> BoxFuture<'_, Result<NodeId, RegistryError>>;

    /// Removes `actor`'s placement if `node` holds it.
    fn release(&self, actor: ActorId, node: NodeId) -> BoxFuture<'_, Result<(), RegistryError>>;
}
