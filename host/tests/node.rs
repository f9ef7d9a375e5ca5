//! One node, real guests (the example actors built from `examples/guests`,
//! and hostile WAT guests), no mock of wasmi.
//!
//! Time-dependent tests run on tokio's paused clock: idle times, waits and
//! deadlines fire at exact virtual instants, and a "busy" actor is one whose
//! `call` to the pretend node's `hold` function the test has not answered yet.

mod common;

use std::time::Duration;

use common::{guest, node, node_with_hold, reply, t, wat, Held};
use goldfish_core::wire::Outcome;
use goldfish_core::{FaultKind, Phase, RejectReason};
use goldfish_host::{Call, DeployError, FunctionConfig, Node};

fn failed_kind(o: &Outcome) -> FaultKind {
    match o {
        Outcome::Failed(f) => f.kind,
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn state_survives_across_messages_in_one_actor() {
    let node = node(FunctionConfig::default());
    for want in ["1", "2", "3"] {
        let out = node.invoke(t("counter/a"), b"tick".to_vec()).await;
        assert_eq!(reply(&out), want);
    }
    let actors = node.actors();
    assert_eq!(actors.len(), 1);
    assert_eq!(actors[0].id.to_string(), "counter/a");
    assert_eq!((actors[0].phase, actors[0].messages), (Phase::Suspended, 3));
    assert_eq!(node.stats("counter").unwrap().spawned, 1);
}

#[tokio::test]
async fn two_keys_get_two_actors() {
    let node = node(FunctionConfig::default());
    assert_eq!(
        reply(&node.invoke(t("counter/a"), b"x".to_vec()).await),
        "1"
    );
    assert_eq!(
        reply(&node.invoke(t("counter/b"), b"x".to_vec()).await),
        "1"
    );
    assert_eq!(
        reply(&node.invoke(t("counter/a"), b"x".to_vec()).await),
        "2"
    );
    let ids: Vec<String> = node.actors().iter().map(|a| a.id.to_string()).collect();
    assert_eq!(ids, ["counter/a", "counter/b"]);
}

#[tokio::test]
async fn a_busy_actors_messages_wait_and_run_in_order() {
    let (node, mut held) = node_with_hold(FunctionConfig::default()).await;
    // relay/k is busy: its call to `hold` waits for the test.
    let first = tokio::spawn({
        let node = node.clone();
        async move { node.invoke(t("relay/k"), b"call hold go".to_vec()).await }
    });
    let (req, answer) = held.next().await;
    // Four more for relay/k, sent in order; each will call counter/x.
    let queued: Vec<_> = (0..4)
        .map(|_| {
            let node = node.clone();
            tokio::spawn(async move {
                node.invoke(t("relay/k"), b"call counter/x tick".to_vec())
                    .await
            })
        })
        .collect();
    // Let them arrive (current-thread runtime: each runs to its first await).
    while node.held_messages() < 5 {
        tokio::task::yield_now().await;
    }
    let relay = node
        .actors()
        .into_iter()
        .find(|a| a.id.to_string() == "relay/k")
        .unwrap();
    assert_eq!(relay.phase, Phase::Running);
    assert_eq!(
        node.stats("relay").unwrap().spawned,
        1,
        "no second activation"
    );
    Held::answer(&req, answer, "done");
    assert_eq!(reply(&first.await.unwrap()), "ok:done");
    for (i, q) in queued.into_iter().enumerate() {
        // They ran one at a time, in the order they were sent.
        assert_eq!(reply(&q.await.unwrap()), format!("ok:{}", i + 1));
    }
}

#[tokio::test(start_paused = true)]
async fn the_wait_limit_spawns_a_new_instance() {
    let config = FunctionConfig {
        max_wait_ms: 50,
        ..FunctionConfig::default()
    };
    let (node, mut held) = node_with_hold(config).await;
    let first = tokio::spawn({
        let node = node.clone();
        async move { node.invoke(t("relay"), b"call hold go".to_vec()).await }
    });
    let (req, answer) = held.next().await;
    // relay#0 is busy: the next anycast message waits, then gets a new instance.
    let t0 = tokio::time::Instant::now();
    let second = node.invoke(t("relay"), b"id".to_vec()).await;
    assert_eq!(reply(&second), "relay#1");
    assert_eq!(
        t0.elapsed(),
        Duration::from_millis(50),
        "it waited exactly max_wait"
    );
    assert_eq!(node.stats("relay").unwrap().spawned, 2);
    Held::answer(&req, answer, "done");
    assert_eq!(reply(&first.await.unwrap()), "ok:done");
}

#[tokio::test]
async fn max_instances_and_a_full_buffer_reject_as_overloaded_and_lose_nothing() {
    let config = FunctionConfig {
        max_instances: 1,
        buffer_count: 2,
        ..FunctionConfig::default()
    };
    let (node, mut held) = node_with_hold(config).await;
    let first = tokio::spawn({
        let node = node.clone();
        async move { node.invoke(t("relay"), b"call hold go".to_vec()).await }
    });
    let (req, answer) = held.next().await;
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let node = node.clone();
            tokio::spawn(async move { node.invoke(t("relay"), b"id".to_vec()).await })
        })
        .collect();
    while node.held_messages() < 3 {
        tokio::task::yield_now().await;
    }
    let out = node.invoke(t("relay"), b"id".to_vec()).await;
    assert_eq!(out, Outcome::Rejected(RejectReason::Overloaded));
    Held::answer(&req, answer, "done");
    assert_eq!(reply(&first.await.unwrap()), "ok:done");
    for w in waiting {
        assert_eq!(
            reply(&w.await.unwrap()),
            "relay#0",
            "accepted messages all ran"
        );
    }
    let s = node.stats("relay").unwrap();
    assert_eq!((s.replied, s.rejected, s.spawned), (3, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn an_idle_actor_is_terminated_and_comes_back_with_fresh_state() {
    let node = node(FunctionConfig {
        idle_ms: 100,
        ..FunctionConfig::default()
    });
    assert_eq!(
        reply(&node.invoke(t("counter/a"), b"x".to_vec()).await),
        "1"
    );
    assert_eq!(
        reply(&node.invoke(t("counter/a"), b"x".to_vec()).await),
        "2"
    );
    tokio::time::sleep(Duration::from_millis(99)).await;
    assert_eq!(node.actors().len(), 1, "not idle long enough yet");
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert!(node.actors().is_empty(), "scaled to zero");
    assert_eq!(node.stats("counter").unwrap().terminated_idle, 1);
    assert_eq!(
        reply(&node.invoke(t("counter/a"), b"x".to_vec()).await),
        "1",
        "a new activation starts from fresh state"
    );
}

#[tokio::test]
async fn failing_guests_fail_after_their_retries_and_the_node_keeps_serving() {
    let node = node(FunctionConfig::default());
    let small = FunctionConfig {
        fuel: 2_000_000,
        memory_pages: 64,
        max_payload: 1 << 20,
        ..FunctionConfig::default()
    };
    for name in ["trap", "spin", "membomb", "badptr"] {
        node.deploy(name, &wat(name), small.clone()).unwrap();
    }
    let cases = [
        ("trap", FaultKind::Trap),
        ("spin", FaultKind::OutOfFuel),
        ("membomb", FaultKind::OutOfMemory),
        ("badptr", FaultKind::Trap),
    ];
    for (name, kind) in cases {
        let out = node.invoke(t(name), b"x".to_vec()).await;
        assert_eq!(failed_kind(&out), kind, "{name}: {out:?}");
        let s = node.stats(name).unwrap();
        assert_eq!(
            (s.runs, s.spawned, s.terminated_fault),
            (3, 3, 3),
            "{name}: tried 3 times, fresh each time"
        );
        // The node still serves the others.
        assert_eq!(
            reply(&node.invoke(t("echo"), b"still here".to_vec()).await),
            "still here"
        );
    }
    let Outcome::Failed(f) = node.invoke(t("badptr"), vec![]).await else {
        panic!()
    };
    assert!(
        f.detail.contains("outside the guest's memory"),
        "{}",
        f.detail
    );
}

#[tokio::test]
async fn bad_modules_are_refused_at_deploy_with_a_clear_error() {
    let node = Node::builder().build().unwrap();
    let err = node
        .deploy("junk", b"\0asm\x01\0\0\0garbage", FunctionConfig::default())
        .unwrap_err();
    assert!(matches!(err, DeployError::Invalid(_)), "{err}");
    let err = node
        .deploy("junk", b"not wasm at all", FunctionConfig::default())
        .unwrap_err();
    assert!(matches!(err, DeployError::Invalid(_)), "{err}");
    let err = node
        .deploy("wrong", &wat("wrongabi"), FunctionConfig::default())
        .unwrap_err();
    assert!(err.to_string().contains("`env::abort`"), "{err}");
    let no_handle = "(module (memory (export \"memory\") 1) (func (export \"gf_alloc\") (param i32) (result i32) i32.const 0))";
    let err = node
        .deploy("nohandle", no_handle.as_bytes(), FunctionConfig::default())
        .unwrap_err();
    assert!(err.to_string().contains("gf_handle"), "{err}");
    let err = node
        .deploy("bad name", guest("echo"), FunctionConfig::default())
        .unwrap_err();
    assert!(matches!(err, DeployError::Name(_)), "{err}");
    let err = node
        .deploy(
            "echo",
            guest("echo"),
            FunctionConfig {
                max_instances: 0,
                ..FunctionConfig::default()
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("max_instances"), "{err}");
    node.deploy("echo", guest("echo"), FunctionConfig::default())
        .unwrap();
    let err = node
        .deploy("echo", guest("echo"), FunctionConfig::default())
        .unwrap_err();
    assert!(matches!(err, DeployError::AlreadyDeployed(_)));
    assert_eq!(node.functions().len(), 1, "nothing else was deployed");
}

#[tokio::test(start_paused = true)]
async fn messages_expire_at_their_deadline_running_or_queued() {
    let (node, mut held) = node_with_hold(FunctionConfig::default()).await;
    let call = |body: &str| Call {
        timeout: Some(Duration::from_millis(100)),
        ..Call::new(t("relay/k"), body.as_bytes().to_vec())
    };
    let running = tokio::spawn({
        let (node, c) = (node.clone(), call("call hold go"));
        async move { node.invoke_with(c).await }
    });
    let (_req, _answer) = held.next().await;
    let t0 = tokio::time::Instant::now();
    let queued = node.invoke_with(call("id")).await;
    assert_eq!(queued, Outcome::Expired);
    assert_eq!(running.await.unwrap(), Outcome::Expired);
    assert!(t0.elapsed() <= Duration::from_millis(100));
    assert_eq!(node.stats("relay").unwrap().expired, 2);
}

#[tokio::test]
async fn shutdown_drains_accepted_messages_and_refuses_new_ones() {
    let (node, mut held) = node_with_hold(FunctionConfig::default()).await;
    let running = tokio::spawn({
        let node = node.clone();
        async move { node.invoke(t("relay/k"), b"call hold go".to_vec()).await }
    });
    let (req, answer) = held.next().await;
    let queued = tokio::spawn({
        let node = node.clone();
        async move { node.invoke(t("relay/k"), b"id".to_vec()).await }
    });
    while node.held_messages() < 2 {
        tokio::task::yield_now().await;
    }
    let shutdown = tokio::spawn({
        let node = node.clone();
        async move { node.shutdown().await }
    });
    while !shutdown.is_finished()
        && node.invoke(t("echo"), vec![]).await != Outcome::Rejected(RejectReason::ShuttingDown)
    {
        tokio::task::yield_now().await;
    }
    assert!(
        !shutdown.is_finished(),
        "shutdown waits for accepted messages"
    );
    Held::answer(&req, answer, "done");
    assert_eq!(reply(&running.await.unwrap()), "ok:done");
    assert_eq!(reply(&queued.await.unwrap()), "relay/k");
    shutdown.await.unwrap();
    assert!(node.actors().is_empty());
    assert_eq!(node.held_messages(), 0);
}

#[tokio::test]
async fn guests_call_and_send_to_other_actors() {
    let (node, mut held) = node_with_hold(FunctionConfig::default()).await;
    // A call to a local actor, created on demand.
    assert_eq!(
        reply(&node.invoke(t("relay"), b"call counter/z x".to_vec()).await),
        "ok:1"
    );
    // A one-way send leaves the node without waiting.
    assert_eq!(
        reply(&node.invoke(t("relay"), b"send hold ping".to_vec()).await),
        "sent"
    );
    let (req, answer) = held.next().await;
    assert_eq!(req.payload.0, b"ping");
    assert_eq!(req.reply_to, None, "nobody waits for a send");
    assert_eq!(req.sender.unwrap().to_string(), "relay#0");
    let _ = answer.send(goldfish_core::wire::Frame::Accepted { id: req.id });
    // Bad targets are the guest's error codes, not traps.
    assert_eq!(
        reply(&node.invoke(t("relay"), b"call no!such x".to_vec()).await),
        "err:BadTarget"
    );
    // The workflow: ingest calls detect/7, which calls aggregate/7.
    let line = b"field=7,sensor=s1,t=21.0,h=90.0,m=0.40,ts=1".to_vec();
    let out = reply(&node.invoke(t("ingest"), line).await);
    assert!(out.starts_with("field=7,risk="), "{out}");
    let ids: Vec<String> = node.actors().iter().map(|a| a.id.to_string()).collect();
    assert!(
        ids.contains(&"detect/7".to_string()) && ids.contains(&"aggregate/7".to_string()),
        "{ids:?}"
    );
}

#[tokio::test]
async fn unknown_functions_and_oversized_payloads_are_rejected() {
    let node = node(FunctionConfig {
        max_payload: 1024,
        ..FunctionConfig::default()
    });
    assert_eq!(
        node.invoke(t("nosuch"), vec![]).await,
        Outcome::Rejected(RejectReason::UnknownFunction)
    );
    assert_eq!(
        node.invoke(t("echo"), vec![0; 1025]).await,
        Outcome::Rejected(RejectReason::TooLarge)
    );
    assert_eq!(
        reply(&node.invoke(t("relay"), b"call nosuch x".to_vec()).await),
        "err:UnknownFunction"
    );
    assert_eq!(
        node.send(t("nosuch"), vec![]),
        Err(RejectReason::UnknownFunction)
    );
}

#[tokio::test]
async fn stateless_mode_makes_a_new_instance_per_message() {
    let node = Node::builder().build().unwrap();
    node.deploy(
        "counter",
        guest("counter"),
        FunctionConfig {
            stateless: true,
            ..FunctionConfig::default()
        },
    )
    .unwrap();
    for _ in 0..3 {
        assert_eq!(
            reply(&node.invoke(t("counter/a"), b"x".to_vec()).await),
            "1"
        );
    }
    let s = node.stats("counter").unwrap();
    assert_eq!((s.spawned, s.runs, s.terminated_stopped), (3, 3, 3));
    assert!(node.actors().is_empty());
}

#[tokio::test(start_paused = true)]
async fn refuse_sends_new_messages_to_another_instance_at_once() {
    let (node, mut held) = node_with_hold(FunctionConfig::default()).await;
    let busy = tokio::spawn({
        let node = node.clone();
        async move {
            node.invoke(t("relay"), b"next refuse call hold go".to_vec())
                .await
        }
    });
    let (req, answer) = held.next().await;
    let t0 = tokio::time::Instant::now();
    assert_eq!(
        reply(&node.invoke(t("relay"), b"id".to_vec()).await),
        "relay#1"
    );
    assert_eq!(
        t0.elapsed(),
        Duration::ZERO,
        "no waiting behind a refusing actor"
    );
    Held::answer(&req, answer, "done");
    assert_eq!(reply(&busy.await.unwrap()), "ok:done");
    // Refuse ended with its run: relay#0 takes messages again.
    let states: Vec<_> = node
        .actors()
        .into_iter()
        .map(|a| (a.id.to_string(), a.disposition))
        .collect();
    assert!(
        states.contains(&("relay#0".to_string(), goldfish_core::Disposition::Any)),
        "{states:?}"
    );
    node.invoke(t("relay"), b"id".to_vec()).await;
    assert_eq!(node.stats("relay").unwrap().spawned, 2);
}

#[tokio::test]
async fn refuse_on_an_addressed_actor_rejects_as_busy() {
    let (node, mut held) = node_with_hold(FunctionConfig::default()).await;
    let busy = tokio::spawn({
        let node = node.clone();
        async move {
            node.invoke(t("relay/k"), b"next refuse call hold go".to_vec())
                .await
        }
    });
    let (req, answer) = held.next().await;
    assert_eq!(
        node.invoke(t("relay/k"), b"id".to_vec()).await,
        Outcome::Rejected(RejectReason::Busy)
    );
    assert_eq!(
        node.stats("relay").unwrap().spawned,
        1,
        "never a second activation"
    );
    Held::answer(&req, answer, "done");
    assert_eq!(reply(&busy.await.unwrap()), "ok:done");
    assert_eq!(
        reply(&node.invoke(t("relay/k"), b"id".to_vec()).await),
        "relay/k"
    );
}

#[tokio::test]
async fn a_session_sticks_to_the_instance_that_keeps_it() {
    let (node, mut held) = node_with_hold(FunctionConfig {
        max_wait_ms: 0,
        ..FunctionConfig::default()
    })
    .await;
    // Two instances, both busy, then both idle.
    let a = tokio::spawn({
        let node = node.clone();
        async move { node.invoke(t("relay"), b"call hold a".to_vec()).await }
    });
    let first = held.next().await;
    let b = tokio::spawn({
        let node = node.clone();
        async move { node.invoke(t("relay"), b"call hold b".to_vec()).await }
    });
    let second = held.next().await;
    Held::answer(&first.0, first.1, "a");
    Held::answer(&second.0, second.1, "b");
    a.await.unwrap();
    b.await.unwrap();
    let session = |body: &str| Call {
        session: Some(goldfish_core::Key::new("s").unwrap()),
        ..Call::new(t("relay"), body.as_bytes().to_vec())
    };
    let keeper = reply(&node.invoke_with(session("next session:s id")).await);
    // A plain message prefers an instance that keeps no session.
    let other = reply(&node.invoke(t("relay"), b"id".to_vec()).await);
    assert_ne!(keeper, other);
    for _ in 0..3 {
        assert_eq!(reply(&node.invoke_with(session("id")).await), keeper);
    }
    let states: Vec<_> = node
        .actors()
        .into_iter()
        .map(|a| (a.id.to_string(), a.disposition))
        .collect();
    assert!(
        states.contains(&(
            keeper.clone(),
            goldfish_core::Disposition::Session(goldfish_core::Key::new("s").unwrap())
        )),
        "{states:?}"
    );
}

#[tokio::test]
async fn stop_terminates_the_actor_after_its_message() {
    let node = node(FunctionConfig::default());
    assert_eq!(
        reply(&node.invoke(t("counter/a"), b"x".to_vec()).await),
        "1"
    );
    assert_eq!(
        reply(&node.invoke(t("counter/a"), b"stop".to_vec()).await),
        "2"
    );
    assert!(node.actors().is_empty());
    assert_eq!(node.stats("counter").unwrap().terminated_stopped, 1);
    assert_eq!(
        reply(&node.invoke(t("counter/a"), b"x".to_vec()).await),
        "1",
        "fresh state"
    );
}

#[tokio::test]
async fn a_module_is_compiled_once_per_content_and_dropped_with_its_last_user() {
    let node = Node::builder().name("n1").build().unwrap();
    let echo = guest("echo");
    node.deploy("a", echo, FunctionConfig::default()).unwrap();
    node.deploy("b", echo, FunctionConfig::default()).unwrap();
    node.deploy("c", guest("counter"), FunctionConfig::default())
        .unwrap();
    assert_eq!(node.cached_modules(), 2);
    node.undeploy("a").await.unwrap();
    assert_eq!(node.cached_modules(), 2, "b still runs the echo module");
    node.undeploy("b").await.unwrap();
    assert_eq!(node.cached_modules(), 1);
    // Deploying the same bytes again compiles them again and works.
    node.deploy("a", echo, FunctionConfig::default()).unwrap();
    assert_eq!(node.cached_modules(), 2);
    assert_eq!(reply(&node.invoke(t("a"), b"hi".to_vec()).await), "hi");
}

#[tokio::test]
async fn a_start_function_may_use_the_abi() {
    let node = Node::builder().name("n1").build().unwrap();
    node.deploy("startlog", &wat("startlog"), FunctionConfig::default())
        .unwrap();
    // The start function logged through the host before the instance
    // existed; the actor started and serves messages.
    assert_eq!(reply(&node.invoke(t("startlog/a"), vec![]).await), "1");
    assert_eq!(reply(&node.invoke(t("startlog/a"), vec![]).await), "2");
    assert_eq!(node.stats("startlog").unwrap().spawned, 1);
}

#[tokio::test]
async fn a_buffer_past_the_end_of_memory_traps_even_when_the_data_would_fit() {
    let node = Node::builder().name("n1").build().unwrap();
    let config = FunctionConfig {
        max_attempts: 1,
        ..FunctionConfig::default()
    };
    node.deploy("overread", &wat("overread"), config).unwrap();
    let Outcome::Failed(f) = node.invoke(t("overread"), vec![]).await else {
        panic!("expected a fault")
    };
    assert_eq!(f.kind, FaultKind::Trap);
    assert!(
        f.detail.contains("outside the guest's memory"),
        "{}",
        f.detail
    );
}
