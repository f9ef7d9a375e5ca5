//! Requests and answers on a healthy network: routing, errors, sizes, stats.

mod common;

use std::sync::Arc;

use common::{id, node, ping, reason_of, End, FnService, Recorder};
use goldfish_core::transport::{Transport, TransportError};
use goldfish_core::wire::{self, Frame, Payload, MAX_FRAME};
use goldfish_core::MessageId;
use goldfish_transport_mem::{reason, JoinError, MemNetwork, NodeStats};
use tokio::sync::Notify;

fn big(len: usize) -> Frame {
    Frame::Outcome {
        id: MessageId(1),
        outcome: wire::Outcome::Reply(Payload(vec![7; len])),
    }
}

#[tokio::test]
async fn a_request_reaches_the_right_node_and_the_answer_comes_back() {
    let net = MemNetwork::new();
    let (n1, mut p1) = node(&net, "n1");
    let (_n2, mut p2) = node(&net, "n2");
    let (_n3, mut p3) = node(&net, "n3");
    assert_eq!(n1.local(), id("n1"));
    assert_eq!(net.nodes(), vec![id("n1"), id("n2"), id("n3")]);

    assert_eq!(ping(&n1, id("n2"), 42).await, Ok(Frame::Pong { nonce: 42 }));
    assert_eq!(p2.drain(), vec![(id("n1"), Frame::Ping { nonce: 42 })]);

    // A frame with a payload survives the wire both ways.
    let frame = big(300);
    assert_eq!(n1.request(id("n3"), frame.clone()).await, Ok(frame.clone()));
    assert_eq!(p3.drain(), vec![(id("n1"), frame)]);
    assert!(p1.drain().is_empty());
    assert!(p2.drain().is_empty());

    // A node may call itself.
    assert_eq!(ping(&n1, id("n1"), 1).await, Ok(Frame::Pong { nonce: 1 }));
    assert_eq!(p1.drain(), vec![(id("n1"), Frame::Ping { nonce: 1 })]);
}

#[tokio::test]
async fn unknown_and_silent_nodes_are_unreachable() {
    let net = MemNetwork::new();
    let (n1, _p1) = node(&net, "n1");
    let err = ping(&n1, id("nobody"), 1).await;
    assert_eq!(
        err,
        Err(TransportError::Unreachable {
            node: id("nobody"),
            reason: reason::UNKNOWN.into()
        })
    );
    // Joined but not serving yet.
    let quiet = net.join(id("quiet")).unwrap();
    assert_eq!(
        reason_of(ping(&n1, id("quiet"), 2).await),
        reason::NOT_SERVING
    );
    let (svc, mut probe) = Recorder::new();
    quiet.serve(svc);
    assert_eq!(
        ping(&n1, id("quiet"), 3).await,
        Ok(Frame::Pong { nonce: 3 })
    );
    assert_eq!(probe.drain(), vec![(id("n1"), Frame::Ping { nonce: 3 })]);
    assert_eq!(net.stats(id("n1")).requests_refused, 2);

    // Names are unique among live nodes.
    assert_eq!(net.join(id("n1")).unwrap_err(), JoinError::Alive(id("n1")));
    assert_eq!(
        net.revive(id("n1")).unwrap_err(),
        JoinError::Alive(id("n1"))
    );
    assert_eq!(
        net.revive(id("ghost")).unwrap_err(),
        JoinError::Unknown(id("ghost"))
    );
}

#[tokio::test]
async fn an_oversized_frame_is_refused_and_nothing_is_delivered() {
    let net = MemNetwork::new();
    assert_eq!(net.max_frame(), MAX_FRAME);
    net.set_max_frame(64);
    let (n1, _p1) = node(&net, "n1");
    let (_n2, mut p2) = node(&net, "n2");

    let frame = big(100);
    let len = wire::encode(&frame, MAX_FRAME).unwrap().len() as u64;
    assert_eq!(
        n1.request(id("n2"), frame).await,
        Err(TransportError::TooLarge { len, max: 64 })
    );
    assert!(p2.drain().is_empty());
    let s = net.stats(id("n1"));
    assert_eq!((s.frames_sent, s.requests_refused), (0, 1));
    assert_eq!(net.stats(id("n2")).frames_received, 0);

    // A small request whose answer is too large: the service ran, the answer
    // does not cross.
    let n3 = net.join(id("n3")).unwrap();
    n3.serve(Arc::new(FnService(|_, _| big(100))));
    assert_eq!(
        ping(&n1, id("n3"), 1).await,
        Err(TransportError::TooLarge { len, max: 64 })
    );
    assert_eq!(net.stats(id("n3")).frames_received, 1);

    // Raising the limit lets it through.
    net.set_max_frame(MAX_FRAME);
    assert!(n1.request(id("n2"), big(100)).await.is_ok());
}

#[tokio::test]
async fn stats_count_frames_and_bytes() {
    let net = MemNetwork::new();
    let (a, _pa) = node(&net, "a");
    let (b, _pb) = node(&net, "b");
    let ping_len = wire::encode(&Frame::Ping { nonce: 9 }, MAX_FRAME)
        .unwrap()
        .len() as u64;
    let big_len = wire::encode(&big(500), MAX_FRAME).unwrap().len() as u64;

    ping(&a, id("b"), 9).await.unwrap(); // the pong is as long as the ping
    a.request(id("b"), big(500)).await.unwrap(); // echoed
    ping(&b, id("a"), 9).await.unwrap();
    let _ = ping(&a, id("nobody"), 9).await;

    assert_eq!(
        net.stats(id("a")),
        NodeStats {
            frames_sent: 3,
            bytes_sent: 2 * ping_len + big_len,
            frames_received: 3,
            bytes_received: 2 * ping_len + big_len,
            requests_refused: 1,
            ..NodeStats::default()
        }
    );
    assert_eq!(
        net.stats(id("b")),
        NodeStats {
            frames_sent: 3,
            bytes_sent: 2 * ping_len + big_len,
            frames_received: 3,
            bytes_received: 2 * ping_len + big_len,
            ..NodeStats::default()
        }
    );
    assert_eq!(net.stats(id("nobody")), NodeStats::default());
    net.reset_stats();
    assert_eq!(net.stats(id("a")), NodeStats::default());
}

#[tokio::test]
async fn dropping_the_callers_future_does_not_cancel_the_handler() {
    let net = MemNetwork::new();
    let (a, _pa) = node(&net, "a");
    let b = net.join(id("b")).unwrap();
    let gate = Arc::new(Notify::new());
    let (svc, mut probe) = Recorder::gated(gate.clone());
    b.serve(svc);

    let caller = tokio::spawn(async move { ping(&a, id("b"), 5).await });
    assert_eq!(probe.next().await, (id("a"), Frame::Ping { nonce: 5 }));
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    gate.notify_one();
    assert_eq!(probe.next_end().await, End::Finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_each_get_their_own_answer() {
    let net = MemNetwork::new();
    let nodes: Vec<_> = ["a", "b", "c"].iter().map(|n| node(&net, n).0).collect();
    let mut tasks = Vec::new();
    for i in 0..300u64 {
        let from = nodes[(i % 3) as usize].clone();
        let to = id(["a", "b", "c"][((i + 1) % 3) as usize]);
        tasks.push(tokio::spawn(async move { (i, ping(&from, to, i).await) }));
    }
    for t in tasks {
        let (i, answer) = t.await.unwrap();
        assert_eq!(answer, Ok(Frame::Pong { nonce: i }));
    }
    let total: u64 = ["a", "b", "c"]
        .iter()
        .map(|n| net.stats(id(n)).frames_received)
        .sum();
    assert_eq!(total, 600);
}

#[tokio::test]
async fn a_handler_that_panics_fails_the_request() {
    let net = MemNetwork::new();
    let (a, _pa) = node(&net, "a");
    let b = net.join(id("b")).unwrap();
    b.serve(Arc::new(FnService(|_, _| -> Frame {
        panic!("this handler panics on purpose")
    })));
    assert_eq!(reason_of(ping(&a, id("b"), 1).await), reason::HANDLER_LOST);
    // The network is fine afterwards.
    let (c, _pc) = node(&net, "c");
    assert!(ping(&c, id("a"), 2).await.is_ok());
}
