//! Three nodes in one process over `transport-mem`, sharing a `MemRegistry`:
//! routing to the node that hosts a target, one activation per addressed
//! actor, forwarding to a peer with spare capacity, failures and deadlines
//! across nodes, a partition, duplicates, and a node killed mid-flight.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{guest, reply, t, wat};
use goldfish_core::wire::Outcome;
use goldfish_core::{FaultKind, NodeId, RejectReason};
use goldfish_host::{Call, FunctionConfig, MemRegistry, Node};
use goldfish_transport_mem::MemNetwork;

fn n(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

struct Cluster {
    net: MemNetwork,
    registry: MemRegistry,
    nodes: Vec<Node>,
}

/// Nodes n1, n2, n3; `deploy[i]` lists what node i+1 runs.
async fn cluster(deploy: [&[&str]; 3], config: FunctionConfig) -> Cluster {
    let net = MemNetwork::new();
    let registry = MemRegistry::new();
    let mut nodes = vec![];
    for (i, fs) in deploy.iter().enumerate() {
        let name = format!("n{}", i + 1);
        let node = Node::builder()
            .name(&name)
            .transport(Arc::new(net.join(n(&name)).unwrap()))
            .registry(Arc::new(registry.clone()))
            .build()
            .unwrap();
        for f in *fs {
            let wasm = if ["trap"].contains(f) {
                wat(f)
            } else {
                guest(f).to_vec()
            };
            node.deploy(f, &wasm, config.clone()).unwrap();
        }
        nodes.push(node);
    }
    for node in &nodes {
        node.announce().await.unwrap();
    }
    Cluster {
        net,
        registry,
        nodes,
    }
}

#[tokio::test]
async fn a_message_goes_to_the_node_that_hosts_its_target() {
    let c = cluster([&[], &["echo"], &[]], FunctionConfig::default()).await;
    for node in &c.nodes {
        let out = node.invoke(t("echo"), b"hello".to_vec()).await;
        assert_eq!(reply(&out), "hello");
    }
    assert_eq!(c.nodes[1].stats("echo").unwrap().runs, 3, "all ran on n2");
    assert_eq!(
        c.nodes[0].invoke(t("nosuch"), vec![]).await,
        Outcome::Rejected(RejectReason::UnknownFunction)
    );
    // Both directions crossed the wire.
    assert!(c.net.stats(n("n1")).frames_sent >= 1 && c.net.stats(n("n2")).frames_received >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_addressed_actor_has_one_activation_and_keeps_its_state_across_nodes() {
    let c = cluster(
        [&["counter"], &["counter"], &["counter"]],
        FunctionConfig::default(),
    )
    .await;
    // First messages arrive at all three nodes at once.
    let calls: Vec<_> = (0..30)
        .map(|i| {
            let node = c.nodes[i % 3].clone();
            tokio::spawn(
                async move { reply(&node.invoke(t("counter/field-7"), b"x".to_vec()).await) },
            )
        })
        .collect();
    let mut counts = vec![];
    for call in calls {
        counts.push(call.await.unwrap().parse::<u32>().unwrap());
    }
    counts.sort();
    assert_eq!(
        counts,
        (1..=30).collect::<Vec<_>>(),
        "one actor counted every message"
    );
    let hosting: Vec<usize> = c.nodes.iter().map(|n| n.actors().len()).collect();
    assert_eq!(
        hosting.iter().sum::<usize>(),
        1,
        "one activation cluster-wide: {hosting:?}"
    );
    let placed = c.registry.placements();
    assert_eq!(placed.len(), 1);
    // Two keys, two actors (wherever they are).
    reply(&c.nodes[1].invoke(t("counter/field-8"), b"x".to_vec()).await);
    let all: usize = c.nodes.iter().map(|n| n.actors().len()).sum();
    assert_eq!(all, 2);
}

#[tokio::test]
async fn a_busy_node_forwards_anycast_to_a_peer_with_capacity() {
    let config = FunctionConfig {
        max_instances: 1,
        buffer_count: 0,
        ..FunctionConfig::default()
    };
    let c = cluster([&["relay"], &["relay", "counter"], &[]], config).await;
    // relay on n1 is busy with a call to counter on n2, delayed on the way.
    c.net.delay(n("n1"), n("n2"), Duration::from_millis(30));
    let busy = tokio::spawn({
        let node = c.nodes[0].clone();
        async move { node.invoke(t("relay"), b"call counter/a x".to_vec()).await }
    });
    while c.nodes[0].held_messages() < 1 {
        tokio::task::yield_now().await;
    }
    // n1 has no room (one instance, no buffer): the message goes to n2.
    let id = reply(&c.nodes[0].invoke(t("relay"), b"id".to_vec()).await);
    assert_eq!(id, "relay#0");
    assert_eq!(c.nodes[1].stats("relay").unwrap().runs, 1, "it ran on n2");
    assert_eq!(c.nodes[0].stats("relay").unwrap().forwarded, 1);
    assert_eq!(reply(&busy.await.unwrap()), "ok:1");
}

#[tokio::test]
async fn failures_and_deadlines_cross_nodes_as_outcomes() {
    let c = cluster(
        [&[], &["trap", "relay"], &["counter"]],
        FunctionConfig::default(),
    )
    .await;
    let out = c.nodes[0].invoke(t("trap"), vec![]).await;
    assert!(
        matches!(&out, Outcome::Failed(f) if f.kind == FaultKind::Trap),
        "{out:?}"
    );
    assert_eq!(c.nodes[1].stats("trap").unwrap().runs, 3, "retried on n2");
    // A forwarded message keeps its deadline: 50 ms, while the link takes 200.
    c.net.delay(n("n2"), n("n3"), Duration::from_millis(200));
    let out = c.nodes[0]
        .invoke_with(Call {
            timeout: Some(Duration::from_millis(50)),
            ..Call::new(t("relay/k"), b"call counter/a x".to_vec())
        })
        .await;
    assert_eq!(out, Outcome::Expired);
}

#[tokio::test]
async fn a_duplicated_request_runs_once() {
    let c = cluster([&[], &["counter"], &[]], FunctionConfig::default()).await;
    c.net.duplicate_next(n("n1"), n("n2"), 1);
    assert_eq!(
        reply(&c.nodes[0].invoke(t("counter/a"), b"x".to_vec()).await),
        "1"
    );
    assert_eq!(
        c.net.stats(n("n2")).frames_received,
        2,
        "the request arrived twice"
    );
    assert_eq!(
        reply(&c.nodes[0].invoke(t("counter/a"), b"x".to_vec()).await),
        "2",
        "but ran once"
    );
    assert_eq!(c.nodes[1].stats("counter").unwrap().runs, 2);
}

#[tokio::test]
async fn a_partition_fails_calls_and_healing_restores_them() {
    let c = cluster([&[], &["echo"], &[]], FunctionConfig::default()).await;
    c.net.partition(n("n1"), n("n2"));
    let out = c.nodes[0].invoke(t("echo"), b"x".to_vec()).await;
    assert!(
        matches!(&out, Outcome::Failed(f) if f.kind == FaultKind::NodeLost),
        "{out:?}"
    );
    assert_eq!(
        reply(&c.nodes[2].invoke(t("echo"), b"y".to_vec()).await),
        "y"
    );
    c.net.heal(n("n1"), n("n2"));
    assert_eq!(
        reply(&c.nodes[0].invoke(t("echo"), b"z".to_vec()).await),
        "z"
    );
}

#[tokio::test(start_paused = true)]
async fn a_node_killed_mid_flight_leaves_no_caller_hanging() {
    let c = cluster([&[], &["relay"], &["counter"]], FunctionConfig::default()).await;
    // relay/k on n2 waits on a slow link to n3 when n2 dies.
    c.net.delay(n("n2"), n("n3"), Duration::from_secs(5));
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let node = c.nodes[0].clone();
            tokio::spawn(async move {
                node.invoke(t("relay/k"), b"call counter/a x".to_vec())
                    .await
            })
        })
        .collect();
    let other = tokio::spawn({
        let node = c.nodes[2].clone();
        async move {
            node.invoke(t("relay/j"), b"call counter/b x".to_vec())
                .await
        }
    });
    while c.nodes[1].held_messages() < 4 {
        tokio::task::yield_now().await;
    }
    let t0 = tokio::time::Instant::now();
    assert!(c.net.kill(n("n2")));
    for call in callers {
        let out = call.await.unwrap();
        assert!(
            matches!(&out, Outcome::Failed(f) if f.kind == FaultKind::NodeLost),
            "{out:?}"
        );
    }
    let out = other.await.unwrap();
    assert!(
        matches!(&out, Outcome::Failed(f) if f.kind == FaultKind::NodeLost),
        "{out:?}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "promptly, not at the deadline"
    );
    // The survivors keep serving.
    assert_eq!(
        reply(&c.nodes[0].invoke(t("counter/b"), b"x".to_vec()).await),
        "1"
    );
}

#[tokio::test]
async fn shutdown_of_one_node_drains_it_and_the_others_go_on() {
    let c = cluster(
        [&["counter"], &["counter"], &["counter"]],
        FunctionConfig::default(),
    )
    .await;
    for i in 0..6 {
        reply(
            &c.nodes[i % 3]
                .invoke(t(&format!("counter/k{i}")), b"x".to_vec())
                .await,
        );
    }
    let before: usize = c.nodes.iter().map(|n| n.actors().len()).sum();
    assert_eq!(before, 6);
    c.nodes[0].shutdown().await;
    assert!(c.nodes[0].actors().is_empty());
    assert_eq!(
        c.nodes[0].invoke(t("counter/x"), vec![]).await,
        Outcome::Rejected(RejectReason::ShuttingDown)
    );
    // Its placements were given up: its keys re-activate elsewhere, fresh.
    assert!(c
        .registry
        .placements()
        .values()
        .all(|owner| *owner != n("n1")));
    for node in &c.nodes[1..] {
        node.announce().await.unwrap();
    }
    assert_eq!(
        reply(&c.nodes[1].invoke(t("counter/k0"), b"x".to_vec()).await),
        "1"
    );
}

/// A registry one node reaches through a switch the test can turn off.
struct Flaky {
    inner: MemRegistry,
    cut: Arc<std::sync::atomic::AtomicBool>,
}

impl Flaky {
    fn check(&self) -> Result<(), goldfish_host::RegistryError> {
        if self.cut.load(std::sync::atomic::Ordering::SeqCst) {
            Err(goldfish_host::RegistryError::Unavailable(
                "cut off by the test".into(),
            ))
        } else {
            Ok(())
        }
    }
}

/// The call, unless the switch is off (then the registry is not touched).
macro_rules! through {
    ($self:ident, $call:expr) => {{
        match $self.check() {
            Ok(()) => $call,
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }};
}

impl goldfish_host::Registry for Flaky {
    fn heartbeat(
        &self,
        info: goldfish_host::NodeInfo,
        ttl: Duration,
    ) -> goldfish_core::transport::BoxFuture<
        '_,
        Result<goldfish_host::Lease, goldfish_host::RegistryError>,
    > {
        through!(self, self.inner.heartbeat(info, ttl))
    }
    fn withdraw(
        &self,
        node: NodeId,
    ) -> goldfish_core::transport::BoxFuture<'_, Result<(), goldfish_host::RegistryError>> {
        through!(self, self.inner.withdraw(node))
    }
    fn members(
        &self,
    ) -> goldfish_core::transport::BoxFuture<
        '_,
        Result<Vec<goldfish_host::NodeInfo>, goldfish_host::RegistryError>,
    > {
        through!(self, self.inner.members())
    }
    fn owner(
        &self,
        actor: goldfish_core::ActorId,
    ) -> goldfish_core::transport::BoxFuture<'_, Result<Option<NodeId>, goldfish_host::RegistryError>>
    {
        through!(self, self.inner.owner(actor))
    }
    fn claim(
        &self,
        actor: goldfish_core::ActorId,
        node: NodeId,
    ) -> goldfish_core::transport::BoxFuture<'_, Result<NodeId, goldfish_host::RegistryError>> {
        through!(self, self.inner.claim(actor, node))
    }
    fn release(
        &self,
        actor: goldfish_core::ActorId,
        node: NodeId,
    ) -> goldfish_core::transport::BoxFuture<'_, Result<(), goldfish_host::RegistryError>> {
        through!(self, self.inner.release(actor, node))
    }
}

#[tokio::test(start_paused = true)]
async fn a_node_that_loses_its_lease_stops_its_addressed_actors_before_anyone_else_starts_them() {
    let lease = Duration::from_secs(3);
    let net = MemNetwork::new();
    let registry = MemRegistry::new();
    let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut nodes = vec![];
    for (name, switch) in [
        ("n1", cut.clone()),
        ("n2", Arc::new(std::sync::atomic::AtomicBool::new(false))),
    ] {
        let node = Node::builder()
            .name(name)
            .transport(Arc::new(net.join(n(name)).unwrap()))
            .registry(Arc::new(Flaky {
                inner: registry.clone(),
                cut: switch,
            }))
            .lease(lease)
            .build()
            .unwrap();
        node.deploy("counter", guest("counter"), FunctionConfig::default())
            .unwrap();
        nodes.push(node);
    }
    let t0 = tokio::time::Instant::now();
    for node in &nodes {
        node.announce().await.unwrap();
    }
    let a = t("counter/a");
    assert_eq!(reply(&nodes[0].invoke(a, b"x".to_vec()).await), "1");
    assert_eq!(
        reply(&nodes[1].invoke(a, b"x".to_vec()).await),
        "2",
        "it lives on n1"
    );
    cut.store(true, std::sync::atomic::Ordering::SeqCst);
    // Until two thirds of the lease, n1 keeps its actor.
    tokio::time::sleep_until(t0 + lease * 2 / 3 - Duration::from_millis(10)).await;
    assert_eq!(nodes[0].actors().len(), 1);
    // Then it evicts it, while its lease (and placement) still stand: nobody
    // else may start counter/a yet, and nobody does.
    tokio::time::sleep_until(t0 + lease * 2 / 3 + Duration::from_millis(10)).await;
    assert!(
        nodes[0].actors().is_empty(),
        "evicted before the lease lapsed"
    );
    assert_eq!(nodes[0].stats("counter").unwrap().terminated_evicted, 1);
    assert_eq!(
        registry.placements().get(&a.actor().unwrap()),
        Some(&n("n1"))
    );
    let out = nodes[1].invoke(a, b"x".to_vec()).await;
    assert!(
        !matches!(out, Outcome::Reply(_)),
        "no second activation: {out:?}"
    );
    assert!(nodes[1].actors().is_empty());
    // After the lease lapses, counter/a starts on n2, fresh.
    tokio::time::sleep_until(t0 + lease + Duration::from_millis(10)).await;
    assert_eq!(reply(&nodes[1].invoke(a, b"x".to_vec()).await), "1");
    // n1 comes back under a new lease and hosts addressed actors again.
    cut.store(false, std::sync::atomic::Ordering::SeqCst);
    nodes[0].announce().await.unwrap();
    assert_eq!(
        reply(&nodes[0].invoke(t("counter/b"), b"x".to_vec()).await),
        "1"
    );
    assert_eq!(nodes[0].actors().len(), 1);
}
