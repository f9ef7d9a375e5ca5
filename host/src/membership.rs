//! The node's side of the registry: its lease, its view of the cluster, and
//! a short-lived cache of where addressed actors live.
//!
//! - **Heartbeat.** Every third of the lease, the node tells the registry who
//!   it is, where it listens, what it runs and how much room it has
//!   ([`NodeInfo`]), which renews its lease.
//! - **Losing the lease.** If no heartbeat has succeeded for two thirds of the
//!   lease, the node stops hosting addressed actors (core's `handle_evict`):
//!   it does so before the registry can let the lease lapse and another node
//!   claim them, so two activations never overlap (S2). When a heartbeat
//!   succeeds again, it hosts them again (`handle_restore`). If the registry
//!   answers with a new epoch, the lease did lapse: placements made under the
//!   old one are void, so the node evicts its addressed actors before going on.
//! - **View.** The members' [`NodeInfo`]s, read after every heartbeat: which
//!   peers run a function and have room (anycast spill-over), and where to
//!   reach them (handed to the transport).
//! - **Owner cache.** Where an addressed actor was found, for a couple of
//!   seconds, dropped when forwarding there fails.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use goldfish_core::{ActorId, FunctionId, NodeId};
use tokio::time::Instant;

use crate::node::NodeInner;
use crate::registry::{FunctionCapacity, NodeInfo};

/// How long an owner lookup is trusted.
const OWNER_TTL: Duration = Duration::from_secs(2);

/// The node's lease as it knows it.
#[derive(Default)]
struct LeaseState {
    epoch: Option<u64>,
    /// Until when the node may act as a holder of its placements.
    valid_until: Option<Instant>,
    /// Whether addressed actors may live here (false after an eviction).
    hosting: bool,
}

/// The registry as this node sees it.
#[derive(Default)]
pub(crate) struct Membership {
    lease: Mutex<LeaseState>,
    view: RwLock<HashMap<FunctionId, Vec<(NodeId, u32)>>>,
    owners: Mutex<HashMap<ActorId, (NodeId, Instant)>>,
}

impl Membership {
    /// Peers (not `me`) that run `f`, those with room first.
    pub(crate) fn peers(&self, f: FunctionId, me: NodeId) -> Vec<(NodeId, u32)> {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<(NodeId, u32)> = view
            .get(&f)
            .map(|v| v.iter().copied().filter(|(n, _)| *n != me).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// Every function in the view and the nodes that run it.
    pub(crate) fn functions(&self) -> Vec<(FunctionId, Vec<NodeId>)> {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<(FunctionId, Vec<NodeId>)> = view
            .iter()
            .map(|(f, ns)| {
                let mut ns: Vec<NodeId> = ns.iter().map(|(n, _)| *n).collect();
                ns.sort();
                (*f, ns)
            })
            .collect();
        v.sort();
        v
    }

    /// Whether the view knows anything about `f`.
    pub(crate) fn knows(&self, f: FunctionId) -> bool {
        self.view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&f)
    }

    /// A recent answer to "where does `actor` live".
    pub(crate) fn cached_owner(&self, actor: &ActorId) -> Option<NodeId> {
        let owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        owners
            .get(actor)
            .filter(|(_, at)| at.elapsed() < OWNER_TTL)
            .map(|(n, _)| *n)
    }

    /// Remembers where `actor` lives.
    pub(crate) fn cache_owner(&self, actor: ActorId, node: NodeId) {
        let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        if owners.len() > 65_536 {
            owners.retain(|_, (_, at)| at.elapsed() < OWNER_TTL);
        }
        owners.insert(actor, (node, Instant::now()));
    }

    /// Forgets where `actor` lives (a forward there failed, or it moved).
    pub(crate) fn forget_owner(&self, actor: &ActorId) {
        self.owners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(actor);
    }
}

/// What this node tells the registry about itself.
fn info(node: &Arc<NodeInner>) -> NodeInfo {
    let fs: Vec<_> = node
        .functions
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
        .cloned()
        .collect();
    let mut functions: Vec<FunctionCapacity> = fs
        .iter()
        .map(|f| FunctionCapacity {
            function: f.name,
            free: f.free(),
        })
        .collect();
    functions.sort_by_key(|c| c.function);
    NodeInfo {
        node: node.name,
        address: node.address.clone(),
        functions,
    }
}

/// Evicts (or restores) addressed actors on every function.
fn set_hosting(node: &Arc<NodeInner>, hosting: bool) {
    let fs: Vec<_> = node
        .functions
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
        .cloned()
        .collect();
    for f in fs {
        let work = if hosting { f.restore() } else { f.evict() };
        crate::dispatcher::drive(node, work, None, 0);
    }
}

/// One heartbeat: renew the lease, then re-read the cluster.
pub(crate) async fn heartbeat(node: &Arc<NodeInner>) -> Result<(), crate::registry::RegistryError> {
    let sent = Instant::now();
    let lease = node.registry.heartbeat(info(node), node.lease_ttl).await?;
    let (lost_epoch, was_hosting) = {
        let mut l = node
            .membership
            .lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let lost = l.epoch.is_some_and(|e| e != lease.epoch);
        let was = l.hosting;
        l.epoch = Some(lease.epoch);
        l.valid_until = Some(sent + lease.ttl * 2 / 3);
        l.hosting = true;
        (lost, was)
    };
    if lost_epoch {
        tracing::warn!(node = %node.name, epoch = lease.epoch, "the lease had lapsed; addressed actors here were evicted");
        if was_hosting {
            set_hosting(node, false);
        }
        set_hosting(node, true);
    } else if !was_hosting {
        set_hosting(node, true);
    }
    refresh(node).await;
    Ok(())
}

/// Re-reads the members into the view, and tells the transport where peers are.
pub(crate) async fn refresh(node: &Arc<NodeInner>) {
    let members = match node.registry.members().await {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!(error = %e, "cluster view not refreshed");
            return;
        }
    };
    let mut view: HashMap<FunctionId, Vec<(NodeId, u32)>> = HashMap::new();
    for m in &members {
        if let (Some(t), Some(addr)) = (&node.transport, &m.address) {
            if m.node != node.name {
                t.set_address(m.node, addr);
            }
        }
        for c in &m.functions {
            view.entry(c.function).or_default().push((m.node, c.free));
        }
    }
    *node
        .membership
        .view
        .write()
        .unwrap_or_else(PoisonError::into_inner) = view;
}

/// Heartbeats every third of the lease; evicts addressed actors if the lease
/// cannot be renewed in time.
pub(crate) fn start(node: &Arc<NodeInner>) {
    let weak = Arc::downgrade(node);
    let every = node.lease_ttl / 3;
    node.runtime.spawn(async move {
        loop {
            let Some(n) = weak.upgrade() else { return };
            if n.closing.load(Ordering::Acquire) {
                return;
            }
            if let Err(e) = heartbeat(&n).await {
                tracing::warn!(node = %n.name, error = %e, "heartbeat failed");
            }
            let valid_until = n
                .membership
                .lease
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .valid_until;
            drop(n);
            let next = Instant::now() + every;
            match valid_until {
                Some(v) if v < next => {
                    tokio::time::sleep_until(v).await;
                    let Some(n) = weak.upgrade() else { return };
                    let expired = {
                        let mut l = n.membership.lease.lock().unwrap_or_else(PoisonError::into_inner);
                        let expired = l.hosting && l.valid_until.is_some_and(|v| v <= Instant::now());
                        if expired {
                            l.hosting = false;
                        }
                        expired
                    };
                    if expired {
                        tracing::warn!(node = %n.name, "could not renew the lease in time; addressed actors evicted");
                        set_hosting(&n, false);
                    }
                    drop(n);
                    tokio::time::sleep_until(next).await;
                }
                _ => tokio::time::sleep_until(next).await,
            }
        }
    });
}
