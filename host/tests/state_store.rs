//! `stateless` functions with a state store: a new instance per message, the
//! state read from the store before each message and written after it (the
//! baseline of the paper's comparison, see `goldfish_host::state`).

mod common;

use std::sync::Arc;

use common::redis::redis;
use common::{guest, reply, t};
use goldfish_core::wire::Outcome;
use goldfish_host::{FunctionConfig, MemStateStore, Node, RedisStateStore, StateStore};

fn stateless() -> FunctionConfig {
    FunctionConfig {
        stateless: true,
        ..FunctionConfig::default()
    }
}

fn workflow_node(config: FunctionConfig, store: Option<Arc<dyn StateStore>>) -> Node {
    let mut b = Node::builder();
    if let Some(s) = store {
        b = b.state_store(s);
    }
    let node = b.build().unwrap();
    for f in ["ingest", "detect", "aggregate", "counter"] {
        node.deploy(f, guest(f), config.clone()).unwrap();
    }
    node
}

#[tokio::test]
async fn a_stateless_actor_keeps_its_state_in_the_store() {
    let store = Arc::new(MemStateStore::new());
    let node = workflow_node(stateless(), Some(store.clone()));
    for want in ["1", "2", "3"] {
        assert_eq!(
            reply(&node.invoke(t("counter/a"), b"x".to_vec()).await),
            want
        );
    }
    assert_eq!(
        reply(&node.invoke(t("counter/b"), b"x".to_vec()).await),
        "1"
    );
    let s = node.stats("counter").unwrap();
    assert_eq!(
        (s.spawned, s.terminated_stopped),
        (4, 4),
        "one instance each"
    );
    assert!(node.actors().is_empty());
    assert_eq!(
        store.get("gf:state:counter/a").unwrap(),
        Some(3u64.to_le_bytes().to_vec())
    );
}

#[tokio::test]
async fn the_workflow_answers_the_same_warm_and_stateless() {
    let warm = workflow_node(FunctionConfig::default(), None);
    let cold = workflow_node(stateless(), Some(Arc::new(MemStateStore::new())));
    let forgetful = workflow_node(stateless(), None);
    let mut differs_without_store = false;
    for i in 0..24 {
        // Humid, then a jump that ingest must call suspect from its memory.
        let t_air = if i == 12 {
            35.0
        } else {
            21.0 + f64::from(i % 3)
        };
        let line = format!("field=7,sensor=s1,t={t_air},h=91,m=0.45,ts={}", 1000 + i);
        let a = reply(&warm.invoke(t("ingest"), line.clone().into_bytes()).await);
        let b = reply(&cold.invoke(t("ingest"), line.clone().into_bytes()).await);
        let c = reply(&forgetful.invoke(t("ingest"), line.into_bytes()).await);
        assert_eq!(a, b, "message {i}");
        differs_without_store |= a != c;
    }
    assert!(
        differs_without_store,
        "the workflow's replies depend on its state"
    );
    // Warm: one actor per step; stateless: one instance per step per message.
    let spawned = |n: &Node| ["ingest", "detect", "aggregate"].map(|f| n.stats(f).unwrap().spawned);
    assert_eq!(spawned(&warm), [1, 1, 1]);
    assert_eq!(spawned(&cold), [24, 24, 24]);
}

#[tokio::test]
async fn a_state_the_guest_refuses_fails_the_message_and_nothing_else() {
    let store = Arc::new(MemStateStore::new());
    store.put("gf:state:counter/bad", b"short").unwrap();
    let node = workflow_node(stateless(), Some(store.clone()));
    match node.invoke(t("counter/bad"), b"x".to_vec()).await {
        Outcome::Failed(f) => assert!(f.detail.contains("gf_state_load"), "{f:?}"),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(
        reply(&node.invoke(t("counter/good"), b"x".to_vec()).await),
        "1"
    );
}

#[tokio::test]
async fn a_state_past_the_end_of_memory_fails_the_message_and_nothing_else() {
    let node = workflow_node(stateless(), Some(Arc::new(MemStateStore::new())));
    node.deploy("bad", &common::wat("badstate"), stateless())
        .unwrap();
    match node.invoke(t("bad"), b"x".to_vec()).await {
        Outcome::Failed(f) => assert!(f.detail.contains("past the end of memory"), "{f:?}"),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(
        reply(&node.invoke(t("counter/a"), b"x".to_vec()).await),
        "1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_a_stateless_actors_state_through_redis() {
    let r = redis();
    let key = format!("k{}x{}", std::process::id(), rand_suffix());
    let target = t(&format!("counter/{key}"));
    let a = workflow_node(
        stateless(),
        Some(Arc::new(RedisStateStore::connect(&r.url).unwrap())),
    );
    let b = workflow_node(
        stateless(),
        Some(Arc::new(RedisStateStore::connect(&r.url).unwrap())),
    );
    assert_eq!(reply(&a.invoke(target, b"x".to_vec()).await), "1");
    assert_eq!(reply(&b.invoke(target, b"x".to_vec()).await), "2");
    assert_eq!(reply(&a.invoke(target, b"x".to_vec()).await), "3");
    let direct = RedisStateStore::connect(&r.url).unwrap();
    assert_eq!(
        direct.get(&format!("gf:state:counter/{key}")).unwrap(),
        Some(3u64.to_le_bytes().to_vec())
    );
}

#[test]
fn an_unreachable_redis_is_a_clear_error() {
    let e = RedisStateStore::connect("redis://127.0.0.1:1/")
        .err()
        .unwrap();
    assert!(e.to_string().starts_with("state store:"), "{e}");
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
