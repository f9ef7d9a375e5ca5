//! Fault injection: partitions, kills and revivals, drops, duplicates, delays.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{id, node, ping, reason_of, End, Recorder};
use goldfish_core::transport::{Transport, TransportError};
use goldfish_core::wire::Frame;
use goldfish_transport_mem::{reason, LinkFaults, MemNetwork};
use tokio::sync::Notify;
use tokio::time::{timeout, Instant};

/// Fails the test if `f` does not finish without virtual time passing. With a
/// paused clock an idle runtime jumps straight to the timeout, so a hang
/// fails at once instead of stalling the test.
async fn promptly<T>(f: impl std::future::Future<Output = T>) -> T {
    let start = Instant::now();
    let out = timeout(Duration::from_secs(60), f)
        .await
        .expect("hung waiting for an answer");
    assert_eq!(start.elapsed(), Duration::ZERO);
    out
}

#[tokio::test]
async fn a_partition_blocks_both_ways_and_heal_restores() {
    let net = MemNetwork::new();
    let (a, mut pa) = node(&net, "a");
    let (b, mut pb) = node(&net, "b");
    let (_c, mut pc) = node(&net, "c");

    net.partition(id("a"), id("b"));
    assert!(net.is_partitioned(id("b"), id("a")));
    assert_eq!(reason_of(ping(&a, id("b"), 1).await), reason::PARTITIONED);
    assert_eq!(reason_of(ping(&b, id("a"), 2).await), reason::PARTITIONED);
    assert!(pa.drain().is_empty());
    assert!(pb.drain().is_empty());
    // Others are not affected.
    assert!(ping(&a, id("c"), 3).await.is_ok());
    assert!(ping(&b, id("c"), 4).await.is_ok());
    assert_eq!(pc.drain().len(), 2);
    assert_eq!(net.stats(id("a")).requests_refused, 1);

    net.heal(id("b"), id("a"));
    assert!(!net.is_partitioned(id("a"), id("b")));
    assert_eq!(ping(&a, id("b"), 5).await, Ok(Frame::Pong { nonce: 5 }));
    assert_eq!(ping(&b, id("a"), 6).await, Ok(Frame::Pong { nonce: 6 }));

    net.partition(id("a"), id("b"));
    net.partition(id("a"), id("c"));
    net.heal_all();
    assert!(ping(&a, id("b"), 7).await.is_ok());
    assert!(ping(&a, id("c"), 8).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_partition_raised_in_flight_loses_the_answer() {
    let net = MemNetwork::new();
    let (a, _pa) = node(&net, "a");
    let b = net.join(id("b")).unwrap();
    let gate = Arc::new(Notify::new());
    let (svc, mut probe) = Recorder::gated(gate.clone());
    b.serve(svc);

    let caller = tokio::spawn(async move { ping(&a, id("b"), 1).await });
    probe.next().await;
    net.partition(id("a"), id("b"));
    gate.notify_one();
    assert_eq!(probe.next_end().await, End::Finished);
    assert_eq!(
        reason_of(promptly(caller).await.unwrap()),
        reason::PARTITIONED
    );
    assert_eq!(net.stats(id("a")).answers_dropped, 1);
}

#[tokio::test(start_paused = true)]
async fn kill_fails_new_and_in_flight_requests_promptly() {
    let net = MemNetwork::new();
    let (a, _pa) = node(&net, "a");
    let b = net.join(id("b")).unwrap();
    // The gate is never opened: the handler would block forever.
    let (svc, mut probe) = Recorder::gated(Arc::new(Notify::new()));
    b.serve(svc);

    let a2 = a.clone();
    let caller = tokio::spawn(async move { ping(&a2, id("b"), 1).await });
    assert_eq!(probe.next().await, (id("a"), Frame::Ping { nonce: 1 }));

    assert!(net.kill(id("b")));
    assert!(!net.kill(id("b")), "already dead");
    assert_eq!(
        promptly(caller).await.unwrap(),
        Err(TransportError::Unreachable {
            node: id("b"),
            reason: reason::KILLED.into()
        })
    );
    // The handler was cancelled, not left running.
    assert_eq!(probe.next_end().await, End::Cancelled);

    // New requests to it fail at once, and nothing reaches it.
    assert_eq!(
        reason_of(promptly(ping(&a, id("b"), 2)).await),
        reason::KILLED
    );
    assert!(probe.drain().is_empty());

    // The dead node cannot send either.
    assert!(!b.is_alive());
    assert!(!net.is_alive(id("b")));
    assert_eq!(net.nodes(), vec![id("a")]);
    assert_eq!(ping(&b, id("a"), 3).await, Err(TransportError::Closed));
}

#[tokio::test(start_paused = true)]
async fn a_killed_callers_requests_fail_but_still_run_on_the_callee() {
    let net = MemNetwork::new();
    let (a, _pa) = node(&net, "a");
    let b = net.join(id("b")).unwrap();
    let gate = Arc::new(Notify::new());
    let (svc, mut probe) = Recorder::gated(gate.clone());
    b.serve(svc);

    let a2 = a.clone();
    let caller = tokio::spawn(async move { ping(&a2, id("b"), 1).await });
    probe.next().await;
    net.kill(id("a"));
    assert_eq!(promptly(caller).await.unwrap(), Err(TransportError::Closed));
    // The callee's work goes on.
    gate.notify_one();
    assert_eq!(probe.next_end().await, End::Finished);
}

#[tokio::test]
async fn revive_brings_a_fresh_node_back() {
    let net = MemNetwork::new();
    let (a, _pa) = node(&net, "a");
    let (old_b, _pb) = node(&net, "b");
    net.kill(id("b"));

    let b = net.revive(id("b")).unwrap();
    assert!(b.is_alive());
    // Fresh: no service until it serves.
    assert_eq!(reason_of(ping(&a, id("b"), 1).await), reason::NOT_SERVING);
    // The old life stays dead, and cannot serve for the new one.
    let (stale, mut stale_probe) = Recorder::new();
    old_b.serve(stale);
    assert_eq!(reason_of(ping(&a, id("b"), 2).await), reason::NOT_SERVING);
    assert_eq!(ping(&old_b, id("a"), 3).await, Err(TransportError::Closed));

    let (svc, mut probe) = Recorder::new();
    b.serve(svc);
    assert_eq!(ping(&a, id("b"), 4).await, Ok(Frame::Pong { nonce: 4 }));
    assert_eq!(ping(&b, id("a"), 5).await, Ok(Frame::Pong { nonce: 5 }));
    assert_eq!(probe.drain(), vec![(id("a"), Frame::Ping { nonce: 4 })]);
    assert!(stale_probe.drain().is_empty());

    // Re-joining a killed name works too.
    net.kill(id("b"));
    let (_b, _probe) = node(&net, "b");
    assert!(ping(&a, id("b"), 6).await.is_ok());
}

#[tokio::test]
async fn drop_next_drops_exactly_n() {
    let net = MemNetwork::new();
    let (a, _pa) = node(&net, "a");
    let (b, mut pb) = node(&net, "b");
    net.drop_next(id("a"), id("b"), 3);

    let mut results = Vec::new();
    for nonce in 0..5 {
        results.push(ping(&a, id("b"), nonce).await);
    }
    for r in &results[..3] {
        assert_eq!(reason_of(r.clone()), reason::DROPPED);
    }
    assert_eq!(results[3], Ok(Frame::Pong { nonce: 3 }));
    assert_eq!(results[4], Ok(Frame::Pong { nonce: 4 }));
    // The dropped ones never reached the service.
    let nonces: Vec<_> = pb.drain().into_iter().map(|(_, f)| f).collect();
    assert_eq!(
        nonces,
        vec![Frame::Ping { nonce: 3 }, Frame::Ping { nonce: 4 }]
    );
    let s = net.stats(id("a"));
    assert_eq!((s.frames_sent, s.requests_dropped), (5, 3));

    // Directed: b -> a was never affected; a refused request does not use
    // up the count.
    net.drop_next(id("a"), id("b"), 1);
    assert!(ping(&b, id("a"), 9).await.is_ok());
    net.partition(id("a"), id("b"));
    assert_eq!(reason_of(ping(&a, id("b"), 10).await), reason::PARTITIONED);
    net.heal_all();
    assert_eq!(reason_of(ping(&a, id("b"), 11).await), reason::DROPPED);
    assert!(ping(&a, id("b"), 12).await.is_ok());
}

#[tokio::test]
async fn a_dropped_answer_means_the_service_ran() {
    let net = MemNetwork::new();
    let (a, _pa) = node(&net, "a");
    let (_b, mut pb) = node(&net, "b");
    net.drop_answers_next(id("a"), id("b"), 1);

    assert_eq!(
        reason_of(ping(&a, id("b"), 1).await),
        reason::ANSWER_DROPPED
    );
    assert_eq!(pb.drain(), vec![(id("a"), Frame::Ping { nonce: 1 })]);
    assert_eq!(ping(&a, id("b"), 2).await, Ok(Frame::Pong { nonce: 2 }));
    let s = net.stats(id("a"));
    assert_eq!((s.answers_dropped, s.frames_received), (1, 1));
    assert_eq!(net.stats(id("b")).frames_sent, 2);
}

#[tokio::test]
async fn a_duplicate_is_delivered_twice_and_the_caller_sees_one_answer() {
    let net = MemNetwork::new();
    let (a, _pa) = node(&net, "a");
    let (_b, mut pb) = node(&net, "b");
    net.duplicate_next(id("a"), id("b"), 1);

    assert_eq!(ping(&a, id("b"), 7).await, Ok(Frame::Pong { nonce: 7 }));
    // Two handler calls with equal frames.
    let first = pb.next().await;
    let second = pb.next().await;
    assert_eq!(first, (id("a"), Frame::Ping { nonce: 7 }));
    assert_eq!(first, second);
    assert_eq!(pb.next_end().await, End::Finished);
    assert_eq!(pb.next_end().await, End::Finished);

    // The next one is delivered once.
    assert_eq!(ping(&a, id("b"), 8).await, Ok(Frame::Pong { nonce: 8 }));
    assert_eq!(pb.next().await, (id("a"), Frame::Ping { nonce: 8 }));
    assert!(pb.drain().is_empty());

    let sa = net.stats(id("a"));
    assert_eq!(
        (sa.frames_sent, sa.requests_duplicated, sa.frames_received),
        (2, 1, 2)
    );
    assert_eq!(net.stats(id("b")).frames_received, 3);
}

#[tokio::test(start_paused = true)]
async fn delays_add_up_on_the_way_there_and_back() {
    let net = MemNetwork::new();
    let (a, _pa) = node(&net, "a");
    let (b, _pb) = node(&net, "b");
    let (_c, _pc) = node(&net, "c");
    let ms = Duration::from_millis;

    async fn timed(f: impl std::future::Future<Output = bool>) -> Duration {
        let start = Instant::now();
        assert!(f.await);
        start.elapsed()
    }

    // Only a -> b is slow: a's request, not b's answer.
    net.delay(id("a"), id("b"), ms(100));
    assert_eq!(
        timed(async { ping(&a, id("b"), 1).await.is_ok() }).await,
        ms(100)
    );
    // b's request to a is fast, but a's answer travels a -> b.
    assert_eq!(
        timed(async { ping(&b, id("a"), 2).await.is_ok() }).await,
        ms(100)
    );
    // Both ways.
    net.delay(id("b"), id("a"), ms(30));
    assert_eq!(
        timed(async { ping(&a, id("b"), 3).await.is_ok() }).await,
        ms(130)
    );
    // Network-wide, on top.
    net.delay_all(ms(5));
    assert_eq!(
        timed(async { ping(&a, id("b"), 4).await.is_ok() }).await,
        ms(140)
    );
    assert_eq!(
        timed(async { ping(&a, id("c"), 5).await.is_ok() }).await,
        ms(10)
    );
    assert_eq!(net.faults(id("a"), id("b")).delay, ms(100));
    assert_eq!(net.default_faults().delay, ms(5));

    // A dropped request fails after the time it would have taken to arrive.
    net.drop_next(id("a"), id("b"), 1);
    let dropped = timed(async { reason_of(ping(&a, id("b"), 6).await) == reason::DROPPED });
    assert_eq!(dropped.await, ms(105));

    net.clear_faults();
    assert_eq!(
        timed(async { ping(&a, id("b"), 7).await.is_ok() }).await,
        ms(0)
    );
}

/// Runs `n` pings a -> b on a fresh network with `faults` on every link and
/// returns which were dropped.
async fn drop_pattern(seed: u64, faults: LinkFaults, n: u64) -> Vec<bool> {
    let net = MemNetwork::with_seed(seed);
    net.set_default_faults(faults);
    let (a, _pa) = node(&net, "a");
    let (_b, _pb) = node(&net, "b");
    let mut out = Vec::new();
    for nonce in 0..n {
        out.push(ping(&a, id("b"), nonce).await.is_err());
    }
    out
}

#[tokio::test]
async fn random_faults_follow_the_seed() {
    let half = LinkFaults {
        drop_rate: 0.5,
        ..LinkFaults::default()
    };
    let first = drop_pattern(11, half, 400).await;
    assert_eq!(first, drop_pattern(11, half, 400).await);
    assert_ne!(first, drop_pattern(12, half, 400).await);
    let dropped = first.iter().filter(|d| **d).count();
    assert!((120..280).contains(&dropped), "{dropped} of 400 dropped");

    let all = LinkFaults {
        drop_rate: 1.0,
        ..LinkFaults::default()
    };
    assert!(drop_pattern(1, all, 20).await.into_iter().all(|d| d));
    assert!(drop_pattern(1, LinkFaults::default(), 20)
        .await
        .into_iter()
        .all(|d| !d));

    // Per link, and duplicates by rate.
    let net = MemNetwork::new();
    let (a, _pa) = node(&net, "a");
    let (_b, mut pb) = node(&net, "b");
    let (_c, mut pc) = node(&net, "c");
    net.set_faults(
        id("a"),
        id("b"),
        LinkFaults {
            duplicate_rate: 1.0,
            ..LinkFaults::default()
        },
    );
    for nonce in 0..3 {
        assert_eq!(ping(&a, id("b"), nonce).await, Ok(Frame::Pong { nonce }));
        assert!(ping(&a, id("c"), nonce).await.is_ok());
    }
    for _ in 0..6 {
        pb.next().await;
    }
    assert_eq!(pc.drain().len(), 3);
    assert_eq!(net.stats(id("a")).requests_duplicated, 3);
}
