//! The registry: which node has which function deployed, and where each
//! addressed actor lives. Placement is claimed atomically (the first claim
//! wins), which is what keeps one live activation per `ActorId` across the
//! cluster (S2).
//!
//! [`MemRegistry`] serves one node, or many nodes in one process.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use goldfish_core::transport::BoxFuture;
use goldfish_core::{ActorId, FunctionId, NodeId};

/// A registry that could not answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("registry unavailable: {0}")]
pub struct RegistryError(pub String);

/// Where nodes and actors are.
pub trait Registry: Send + Sync + 'static {
    /// `node` now has exactly these functions deployed.
    fn announce(
        &self,
        node: NodeId,
        functions: Vec<FunctionId>,
    ) -> BoxFuture<'_, Result<(), RegistryError>>;

    /// `node` leaves: its functions and placements go.
    fn withdraw(&self, node: NodeId) -> BoxFuture<'_, Result<(), RegistryError>>;

    /// The nodes that have `function` deployed.
    fn nodes_with(&self, function: FunctionId)
        -> BoxFuture<'_, Result<Vec<NodeId>, RegistryError>>;

    /// Every function and the nodes it is deployed on.
    fn functions(&self) -> BoxFuture<'_, Result<HashMap<FunctionId, Vec<NodeId>>, RegistryError>>;

    /// The node the addressed actor is placed on, if any.
    fn owner(&self, actor: ActorId) -> BoxFuture<'_, Result<Option<NodeId>, RegistryError>>;

    /// Places `actor` on `node` unless it is placed already; returns the
    /// owner after the call (`node` itself if the claim won). Claiming an
    /// actor one already owns succeeds.
    fn claim(&self, actor: ActorId, node: NodeId) -> BoxFuture<'_, Result<NodeId, RegistryError>>;

    /// Removes `actor`'s placement if `node` holds it.
    fn release(&self, actor: ActorId, node: NodeId) -> BoxFuture<'_, Result<(), RegistryError>>;
}

#[derive(Default)]
struct Tables {
    functions: HashMap<NodeId, BTreeSet<FunctionId>>,
    placements: HashMap<ActorId, NodeId>,
}

/// An in-process registry (the default): share one `Arc` among the nodes of
/// one process to make them a cluster.
#[derive(Clone, Default)]
pub struct MemRegistry {
    tables: Arc<Mutex<Tables>>,
}

impl MemRegistry {
    /// An empty registry.
    pub fn new() -> MemRegistry {
        MemRegistry::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Tables) -> T) -> T {
        f(&mut self.tables.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Placements held right now (for tests and status).
    pub fn placements(&self) -> HashMap<ActorId, NodeId> {
        self.with(|t| t.placements.clone())
    }
}

fn ready<'a, T: Send + 'a>(v: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(v))
}

impl Registry for MemRegistry {
    fn announce(
        &self,
        node: NodeId,
        functions: Vec<FunctionId>,
    ) -> BoxFuture<'_, Result<(), RegistryError>> {
        self.with(|t| {
            t.functions.insert(node, functions.into_iter().collect());
        });
        ready(Ok(()))
    }

    fn withdraw(&self, node: NodeId) -> BoxFuture<'_, Result<(), RegistryError>> {
        self.with(|t| {
            t.functions.remove(&node);
            t.placements.retain(|_, n| *n != node);
        });
        ready(Ok(()))
    }

    fn nodes_with(
        &self,
        function: FunctionId,
    ) -> BoxFuture<'_, Result<Vec<NodeId>, RegistryError>> {
        let nodes = self.with(|t| {
            let mut v: Vec<NodeId> = t
                .functions
                .iter()
                .filter(|(_, fs)| fs.contains(&function))
                .map(|(n, _)| *n)
                .collect();
            v.sort();
            v
        });
        ready(Ok(nodes))
    }

    fn functions(&self) -> BoxFuture<'_, Result<HashMap<FunctionId, Vec<NodeId>>, RegistryError>> {
        let map = self.with(|t| {
            let mut m: HashMap<FunctionId, Vec<NodeId>> = HashMap::new();
            for (n, fs) in &t.functions {
                for f in fs {
                    m.entry(*f).or_default().push(*n);
                }
            }
            for v in m.values_mut() {
                v.sort();
            }
            m
        });
        ready(Ok(map))
    }

    fn owner(&self, actor: ActorId) -> BoxFuture<'_, Result<Option<NodeId>, RegistryError>> {
        ready(Ok(self.with(|t| t.placements.get(&actor).copied())))
    }

    fn claim(&self, actor: ActorId, node: NodeId) -> BoxFuture<'_, Result<NodeId, RegistryError>> {
        ready(Ok(self.with(|t| *t.placements.entry(actor).or_insert(node))))
    }

    fn release(&self, actor: ActorId, node: NodeId) -> BoxFuture<'_, Result<(), RegistryError>> {
        self.with(|t| {
            if t.placements.get(&actor) == Some(&node) {
                t.placements.remove(&actor);
            }
        });
        ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use goldfish_core::{ActorKey, Key};

    fn n(s: &str) -> NodeId {
        NodeId::new(s).unwrap()
    }

    #[tokio::test]
    async fn the_first_claim_wins_and_release_is_owner_only() {
        let r = MemRegistry::new();
        let a = ActorId {
            function: FunctionId::new("counter").unwrap(),
            key: ActorKey::Keyed(Key::new("k").unwrap()),
        };
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
    }

    #[tokio::test]
    async fn functions_are_listed_per_node() {
        let r = MemRegistry::new();
        let f = FunctionId::new("echo").unwrap();
        r.announce(n("b"), vec![f]).await.unwrap();
        r.announce(n("a"), vec![f]).await.unwrap();
        assert_eq!(r.nodes_with(f).await, Ok(vec![n("a"), n("b")]));
        r.announce(n("a"), vec![]).await.unwrap();
        assert_eq!(r.nodes_with(f).await, Ok(vec![n("b")]));
    }
}
