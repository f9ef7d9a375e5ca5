//! `RedisRegistry` against a real Redis server: the same scenarios as the
//! in-process registry's tests, plus membership, concurrency, errors and
//! reconnection.
//!
//! The server is the one at `GOLDFISH_REDIS_URL` if that is set; otherwise the
//! tests start their own `redis-server` on a free loopback port (shared by the
//! tests that run at the same time, killed when the last of them ends). With
//! neither, the tests fail: they never pass without having talked to Redis.
//! Each test works in a cluster of its own (`gf:{<test>-<pid>}:`), so tests
//! can share a server and run in parallel.
//!
//! Leases expire on Redis's clock, which a test cannot pause: where a lease
//! must lapse, the test sleeps in real time past the ttl plus a margin. That
//! wait is the mechanism under test, not a guess at how long something takes.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::redis::{free_port, redis, Cluster, Redis, Server};
use goldfish_core::{ActorId, ActorKey, FunctionId, Key, NodeId};
use goldfish_host::registry::{FunctionCapacity, NodeInfo, RedisRegistry, Registry, RegistryError};

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

fn actor(key: &str) -> ActorId {
    ActorId {
        function: FunctionId::new("counter").unwrap(),
        key: ActorKey::Keyed(Key::new(key).unwrap()),
    }
}

const LONG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_first_claim_wins_and_release_is_owner_only() {
    let redis = redis();
    // As the node sees it: a shared trait object.
    let cluster = Cluster::new(&redis, "first-claim");
    let r: Arc<dyn Registry> = Arc::new(cluster.connect().await);
    let a = actor("k");
    assert_eq!(
        r.claim(a, n("n1")).await,
        Err(RegistryError::NoLease(n("n1")))
    );
    r.heartbeat(info("n1"), LONG).await.unwrap();
    r.heartbeat(info("n2"), LONG).await.unwrap();
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

#[tokio::test]
async fn placements_die_with_the_lease_and_a_rejoin_is_a_new_epoch() {
    let redis = redis();
    let cluster = Cluster::new(&redis, "lapse");
    let r = cluster.connect().await;
    let (a, b) = (actor("k"), actor("other"));
    // Real time: Redis expires the lease. Margins of 450 ms either side.
    let ttl = Duration::from_millis(600);
    let step = Duration::from_millis(150);
    let first = r.heartbeat(info("n1"), ttl).await.unwrap();
    r.heartbeat(info("n2"), LONG).await.unwrap();
    assert_eq!(r.claim(a, n("n1")).await, Ok(n("n1")));
    // Renewed in time: same epoch, placement holds.
    tokio::time::sleep(step).await;
    let renewed = r.heartbeat(info("n1"), ttl).await.unwrap();
    assert_eq!(renewed.epoch, first.epoch);
    assert_eq!(renewed.ttl, ttl);
    tokio::time::sleep(step).await;
    assert_eq!(r.owner(a).await, Ok(Some(n("n1"))));
    // Not renewed: the lease lapses, and with it the placement.
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    assert_eq!(r.owner(a).await, Ok(None));
    assert_eq!(r.members().await.unwrap(), vec![info("n2")]);
    assert_eq!(
        r.claim(b, n("n1")).await,
        Err(RegistryError::NoLease(n("n1")))
    );
    assert_eq!(r.claim(a, n("n2")).await, Ok(n("n2")));
    // n1 comes back under a new epoch; n2 keeps the actor.
    let again = r.heartbeat(info("n1"), LONG).await.unwrap();
    assert_ne!(again.epoch, first.epoch);
    assert_eq!(r.claim(a, n("n1")).await, Ok(n("n2")));
    assert_eq!(r.owner(a).await, Ok(Some(n("n2"))));
    assert_eq!(r.members().await.unwrap(), vec![info("n1"), info("n2")]);
}

#[tokio::test]
async fn a_rejoin_does_not_revive_the_old_placements() {
    let redis = redis();
    let cluster = Cluster::new(&redis, "revive");
    let r = cluster.connect().await;
    let a = actor("k");
    let ttl = Duration::from_millis(300);
    let first = r.heartbeat(info("n1"), ttl).await.unwrap();
    assert_eq!(r.claim(a, n("n1")).await, Ok(n("n1")));
    // Real time: let the lease lapse (ttl + 300 ms margin), nobody claims.
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    let again = r.heartbeat(info("n1"), LONG).await.unwrap();
    assert_ne!(again.epoch, first.epoch);
    // The placement was made under the old epoch: void, even though n1 is
    // live again. A new claim places it under the new epoch.
    assert_eq!(r.owner(a).await, Ok(None));
    assert_eq!(r.claim(a, n("n1")).await, Ok(n("n1")));
    assert_eq!(r.owner(a).await, Ok(Some(n("n1"))));
}

#[tokio::test]
async fn withdraw_removes_the_lease_the_info_and_the_placements() {
    let redis = redis();
    let cluster = Cluster::new(&redis, "withdraw");
    let r = cluster.connect().await;
    let (a, b) = (actor("a"), actor("b"));
    let first = r.heartbeat(info("n1"), LONG).await.unwrap();
    r.heartbeat(info("n2"), LONG).await.unwrap();
    assert_eq!(r.claim(a, n("n1")).await, Ok(n("n1")));
    assert_eq!(r.claim(b, n("n2")).await, Ok(n("n2")));
    r.withdraw(n("n1")).await.unwrap();
    assert_eq!(r.owner(a).await, Ok(None));
    assert_eq!(r.owner(b).await, Ok(Some(n("n2"))));
    assert_eq!(r.members().await.unwrap(), vec![info("n2")]);
    assert_eq!(
        r.claim(a, n("n1")).await,
        Err(RegistryError::NoLease(n("n1")))
    );
    // Withdrawing twice, or a node that never joined, is fine.
    r.withdraw(n("n1")).await.unwrap();
    r.withdraw(n("never")).await.unwrap();
    // Joining again is a new epoch.
    let again = r.heartbeat(info("n1"), LONG).await.unwrap();
    assert_ne!(again.epoch, first.epoch);
    assert_eq!(r.claim(a, n("n1")).await, Ok(n("n1")));
}

#[tokio::test]
async fn members_are_the_live_nodes_as_they_last_described_themselves() {
    let redis = redis();
    let cluster = Cluster::new(&redis, "members");
    let r = cluster.connect().await;
    let f = |name: &str, free| FunctionCapacity {
        function: FunctionId::new(name).unwrap(),
        free,
    };
    let edge1 = NodeInfo {
        node: n("edge-1"),
        address: Some("127.0.0.1:4433".into()),
        functions: vec![f("detect", 12), f("counter", 0)],
    };
    let edge2 = NodeInfo {
        node: n("edge-2"),
        address: Some("[::1]:4434".into()),
        functions: vec![f("detect", 3)],
    };
    let gone = NodeInfo {
        node: n("edge-0"),
        address: None,
        functions: vec![f("counter", 1)],
    };
    assert_eq!(r.members().await.unwrap(), vec![]);
    r.heartbeat(edge2.clone(), LONG).await.unwrap();
    r.heartbeat(edge1.clone(), LONG).await.unwrap();
    let short = Duration::from_millis(300);
    r.heartbeat(gone.clone(), short).await.unwrap();
    // Sorted by node name, info round-tripped.
    assert_eq!(
        r.members().await.unwrap(),
        vec![gone, edge1.clone(), edge2.clone()]
    );
    // A heartbeat replaces the info.
    let edge1 = NodeInfo {
        functions: vec![f("detect", 11)],
        ..edge1
    };
    r.heartbeat(edge1.clone(), LONG).await.unwrap();
    // Real time: edge-0's lease lapses (ttl + 300 ms margin).
    tokio::time::sleep(short + Duration::from_millis(300)).await;
    assert_eq!(
        r.members().await.unwrap(),
        vec![edge1.clone(), edge2.clone()]
    );
    // Pruned entries stay gone.
    assert_eq!(r.members().await.unwrap(), vec![edge1, edge2]);
}

#[tokio::test]
async fn clusters_sharing_a_server_do_not_see_each_other() {
    let redis = redis();
    let cluster_one = Cluster::new(&redis, "isolation-one");
    let one = cluster_one.connect().await;
    let cluster_two = Cluster::new(&redis, "isolation-two");
    let two = cluster_two.connect().await;
    let a = actor("k");
    one.heartbeat(info("n1"), LONG).await.unwrap();
    two.heartbeat(info("n1"), LONG).await.unwrap();
    two.heartbeat(info("n2"), LONG).await.unwrap();
    assert_eq!(one.claim(a, n("n1")).await, Ok(n("n1")));
    assert_eq!(two.owner(a).await, Ok(None));
    assert_eq!(two.claim(a, n("n2")).await, Ok(n("n2")));
    assert_eq!(one.owner(a).await, Ok(Some(n("n1"))));
    assert_eq!(one.members().await.unwrap(), vec![info("n1")]);
    assert_eq!(two.members().await.unwrap(), vec![info("n1"), info("n2")]);
}

#[tokio::test]
async fn a_claim_without_a_lease_is_no_lease() {
    let redis = redis();
    let cluster = Cluster::new(&redis, "no-lease");
    let r = cluster.connect().await;
    let a = actor("k");
    assert_eq!(
        r.claim(a, n("stranger")).await,
        Err(RegistryError::NoLease(n("stranger")))
    );
    assert_eq!(r.owner(a).await, Ok(None));
    // A zero ttl is a lease that is already over.
    r.heartbeat(info("n1"), Duration::ZERO).await.unwrap();
    assert_eq!(
        r.claim(a, n("n1")).await,
        Err(RegistryError::NoLease(n("n1")))
    );
    assert_eq!(r.members().await.unwrap(), vec![]);
    // And a live owner still answers a claim from a node without a lease.
    r.heartbeat(info("n2"), LONG).await.unwrap();
    assert_eq!(r.claim(a, n("n2")).await, Ok(n("n2")));
    assert_eq!(r.claim(a, n("stranger")).await, Ok(n("n2")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_agree_on_one_owner() {
    let redis = redis();
    let cluster = Cluster::new(&redis, "concurrent");
    let nodes = ["c1", "c2", "c3", "c4"];
    // One registry, so one connection, per node.
    let mut regs = Vec::new();
    for node in nodes {
        let r = cluster.connect().await;
        r.heartbeat(info(node), LONG).await.unwrap();
        regs.push(Arc::new(r));
    }
    for round in 0..8 {
        let a = actor(&format!("contended-{round}"));
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (r, barrier, node) = (regs[i % 4].clone(), barrier.clone(), n(nodes[i % 4]));
                tokio::spawn(async move {
                    barrier.wait().await;
                    r.claim(a, node).await
                })
            })
            .collect();
        let mut owners = Vec::new();
        for t in tasks {
            owners.push(t.await.unwrap().unwrap());
        }
        let owner = owners[0];
        assert!(
            owners.iter().all(|o| *o == owner),
            "round {round}: {owners:?}"
        );
        for r in &regs {
            assert_eq!(r.owner(a).await, Ok(Some(owner)));
        }
    }
}

#[tokio::test]
async fn a_wrong_url_is_unavailable_and_names_it() {
    // Nothing listens on a port we just freed.
    let url = format!("redis://127.0.0.1:{}/", free_port());
    let started = Instant::now();
    match RedisRegistry::connect(&url, "wrong-url").await {
        Err(RegistryError::Unavailable(m)) => assert!(m.contains(&url), "{m}"),
        Err(e) => panic!("expected Unavailable, got {e:?}"),
        Ok(_) => panic!("connected to {url}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // A password never shows in the message.
    let port = free_port();
    match RedisRegistry::connect(&format!("redis://u:hunter2@127.0.0.1:{port}/"), "wrong-url").await
    {
        Err(RegistryError::Unavailable(m)) => {
            assert!(
                m.contains(&format!("redis://u:***@127.0.0.1:{port}/")),
                "{m}"
            );
            assert!(!m.contains("hunter2"), "{m}");
        }
        Err(e) => panic!("expected Unavailable, got {e:?}"),
        Ok(_) => panic!("connected to port {port}"),
    }
    match RedisRegistry::connect("not-a-url", "wrong-url").await {
        Err(RegistryError::Unavailable(m)) => assert!(m.contains("not-a-url"), "{m}"),
        Err(e) => panic!("expected Unavailable, got {e:?}"),
        Ok(_) => panic!("connected to not-a-url"),
    }
    // A bad cluster name is refused before anything is sent.
    let redis = redis();
    for bad in ["", "a}b", "a{b"] {
        match RedisRegistry::connect(&redis.url, bad).await {
            Err(RegistryError::Unavailable(m)) => assert!(m.contains("cluster name"), "{m}"),
            Err(e) => panic!("expected Unavailable, got {e:?}"),
            Ok(_) => panic!("accepted cluster name {bad:?}"),
        }
    }
}

/// Needs a server of its own to stop and restart, so it needs `redis-server`
/// even when `GOLDFISH_REDIS_URL` is set.
#[tokio::test]
async fn a_lost_server_is_unavailable_then_reconnects_with_newer_epochs() {
    let server = Server::start(None);
    let port = server.port;
    let own = Redis {
        url: server.url(),
        _server: None,
    };
    let cluster = Cluster::new(&own, "reconnect");
    let r = cluster.connect().await;
    let before = r.heartbeat(info("n1"), LONG).await.unwrap();
    assert_eq!(r.claim(actor("k"), n("n1")).await, Ok(n("n1")));
    drop(server);
    // Fails, and promptly: the node must learn it cannot renew.
    let started = Instant::now();
    match r.heartbeat(info("n1"), LONG).await {
        Err(RegistryError::Unavailable(m)) => {
            assert!(m.contains(&format!("127.0.0.1:{port}")), "{m}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The same server comes back, empty (no persistence).
    let _server = Server::start(Some(port));
    let mut after = None;
    for _ in 0..50 {
        match r.heartbeat(info("n1"), LONG).await {
            Ok(lease) => {
                after = Some(lease);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let after = after.expect("the registry reconnects within 5 s");
    // Epochs never repeat, even across a restart that lost the counter.
    assert!(
        after.epoch > before.epoch,
        "{} <= {}",
        after.epoch,
        before.epoch
    );
    assert_eq!(r.owner(actor("k")).await, Ok(None));
    assert_eq!(r.members().await.unwrap(), vec![info("n1")]);
}
