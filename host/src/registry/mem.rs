//! An in-process registry with the same lease semantics as Redis, on tokio's
//! clock (so tests can pause it and let leases expire exactly).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use goldfish_core::transport::BoxFuture;
use goldfish_core::{ActorId, NodeId};
use tokio::time::Instant;

use super::{Lease, NodeInfo, Registry, RegistryError};

struct Member {
    info: NodeInfo,
    epoch: u64,
    until: Instant,
}

#[derive(Default)]
struct Tables {
    members: HashMap<NodeId, Member>,
    /// Actor -> (owner, the owner's epoch when it claimed).
    placements: HashMap<ActorId, (NodeId, u64)>,
    epochs: u64,
}

impl Tables {
    fn live(&self, node: NodeId, epoch: Option<u64>, now: Instant) -> bool {
        self.members
            .get(&node)
            .is_some_and(|m| m.until > now && epoch.is_none_or(|e| e == m.epoch))
    }

    fn owner(&self, actor: &ActorId, now: Instant) -> Option<NodeId> {
        let &(node, epoch) = self.placements.get(actor)?;
        self.live(node, Some(epoch), now).then_some(node)
    }
}

/// An in-process registry (the default): share one (cloned) `MemRegistry`
/// among the nodes of one process to make them a cluster.
#[derive(Clone, Default)]
pub struct MemRegistry {
    tables: Arc<Mutex<Tables>>,
}

impl MemRegistry {
    /// An empty registry.
    pub fn new() -> MemRegistry {
        MemRegistry::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Tables, Instant) -> T) -> T {
        let now = Instant::now();
        f(
            &mut self.tables.lock().unwrap_or_else(PoisonError::into_inner),
            now,
        )
    }

    /// Live placements right now (for tests and status).
    pub fn placements(&self) -> HashMap<ActorId, NodeId> {
        self.with(|t, now| {
            t.placements
                .keys()
                .filter_map(|a| t.owner(a, now).map(|n| (*a, n)))
                .collect()
        })
    }
}

fn ready<'a, T: Send + 'a>(v: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(v))
}

impl Registry for MemRegistry {
    fn heartbeat(
        &self,
        info: NodeInfo,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<Lease, RegistryError>> {
        let lease = self.with(|t, now| {
            let node = info.node;
            let epoch = match t.members.get(&node) {
                Some(m) if m.until > now => m.epoch,
                _ => {
                    t.epochs += 1;
                    t.epochs
                }
            };
            t.members.insert(
                node,
                Member {
                    info,
                    epoch,
                    until: now + ttl,
                },
            );
            Lease { epoch, ttl }
        });
        ready(Ok(lease))
    }

    fn withdraw(&self, node: NodeId) -> BoxFuture<'_, Result<(), RegistryError>> {
        self.with(|t, _| {
            t.members.remove(&node);
            t.placements.retain(|_, (n, _)| *n != node);
        });
        ready(Ok(()))
    }

    fn members(&self) -> BoxFuture<'_, Result<Vec<NodeInfo>, RegistryError>> {
        let mut v: Vec<NodeInfo> = self.with(|t, now| {
            t.members
                .values()
                .filter(|m| m.until > now)
                .map(|m| m.info.clone())
                .collect()
        });
        v.sort_by_key(|i| i.node);
        ready(Ok(v))
    }

    fn owner(&self, actor: ActorId) -> BoxFuture<'_, Result<Option<NodeId>, RegistryError>> {
        ready(Ok(self.with(|t, now| t.owner(&actor, now))))
    }

    fn claim(&self, actor: ActorId, node: NodeId) -> BoxFuture<'_, Result<NodeId, RegistryError>> {
        ready(self.with(|t, now| {
            if let Some(owner) = t.owner(&actor, now) {
                return Ok(owner);
            }
            let Some(m) = t.members.get(&node).filter(|m| m.until > now) else {
                return Err(RegistryError::NoLease(node));
            };
            let epoch = m.epoch;
            t.placements.insert(actor, (node, epoch));
            Ok(node)
        }))
    }

    fn release(&self, actor: ActorId, node: NodeId) -> BoxFuture<'_, Result<(), RegistryError>> {
        self.with(|t, _| {
            if t.placements.get(&actor).is_some_and(|(n, _)| *n == node) {
                t.placements.remove(&actor);
            }
        });
        ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use goldfish_core::{ActorKey, FunctionId, Key};

    fn n(s: &str) -> NodeId {
        NodeId::new(s).unwrap()
    }

    fn info(node: &str) -> NodeInfo {
        NodeInfo {
            node: n(node),
            address: None,
            functions: vec![],
        }
    }

    fn actor() -> ActorId {
        ActorId {
            function: FunctionId::new("counter").unwrap(),
            key: ActorKey::Keyed(Key::new("k").unwrap()),
        }
    }

    const TTL: Duration = Duration::from_secs(3);

    #[tokio::test(start_paused = true)]
    async fn the_first_claim_wins_and_release_is_owner_only() {
        let r = MemRegistry::new();
        let a = actor();
        assert_eq!(
            r.claim(a, n("n1")).await,
            Err(RegistryError::NoLease(n("n1")))
        );
        r.heartbeat(info("n1"), TTL).await.unwrap();
        r.heartbeat(info("n2"), TTL).await.unwrap();
        assert_eq!(r.claim(a, n("n1")).await, Ok(n("n1")));
        assert_eq!(r.claim(a, n("n2")).await, Ok(n("n1")));
        assert_eq!(r.claim(a, n("n1")).await, Ok(n("n1")));
        r.release(a, n("n2")).await.unwrap();
        assert_eq!(r.owner(a).await, Ok(Some(n("n1"))));
        r.release(a, n("n1")).await.unwrap();
        assert_eq!(r.owner(a).await, Ok(None));
        assert_eq!(r.claim(a, n("n2")).await, Ok(n("n2")));
        r.withdraw(n("n2")).await.unwrap();
        assert_eq!(r.owner(a).await, Ok(None));
        assert_eq!(r.members().await.unwrap(), vec![info("n1")]);
    }

    #[tokio::test(start_paused = true)]
    async fn placements_die_with_the_lease_and_a_rejoin_is_a_new_epoch() {
        let r = MemRegistry::new();
        let a = actor();
        let first = r.heartbeat(info("n1"), TTL).await.unwrap();
        r.heartbeat(info("n2"), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(r.claim(a, n("n1")).await, Ok(n("n1")));
        // Renewed in time: same epoch, placement holds.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            r.heartbeat(info("n1"), TTL).await.unwrap().epoch,
            first.epoch
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(r.owner(a).await, Ok(Some(n("n1"))));
        // Not renewed: the lease lapses, and with it the placement.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(r.owner(a).await, Ok(None));
        assert_eq!(r.members().await.unwrap(), vec![info("n2")]);
        assert_eq!(r.claim(a, n("n2")).await, Ok(n("n2")));
        // n1 comes back under a new epoch; n2 keeps the actor.
        let again = r.heartbeat(info("n1"), TTL).await.unwrap();
        assert_ne!(again.epoch, first.epoch);
        assert_eq!(r.claim(a, n("n1")).await, Ok(n("n2")));
    }
}
