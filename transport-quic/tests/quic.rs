//! The QUIC transport over real UDP sockets on 127.0.0.1, with certificates
//! made per test.

mod common;

use std::time::{Duration, Instant};

use common::*;
use goldfish_core::transport::{Transport, TransportError};
use goldfish_core::wire::{self, Frame, Payload};
use goldfish_transport_quic::{certs, code, reason, QuicError, QuicTransport, ALPN};
use quinn::{ReadError, ReadToEndError};
use tokio::task::JoinSet;

fn reason_of(e: &TransportError) -> &str {
    match e {
        TransportError::Unreachable { reason, .. } => reason,
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

fn reset_code(e: &ReadToEndError) -> Option<u32> {
    match e {
        ReadToEndError::Read(ReadError::Reset(c)) => Some(c.into_inner() as u32),
        _ => None,
    }
}

#[tokio::test]
async fn a_request_reaches_the_peer_and_the_answer_comes_back() {
    let certs = certs::generate_in_memory(&["a", "b"]).unwrap();
    let (a, rec_a, _) = serving(&certs, "a").await;
    let (b, rec_b, _) = serving(&certs, "b").await;
    introduce(&a, &b);
    introduce(&b, &a);

    let answer = within(a.request(id("b"), Frame::Ping { nonce: 42 })).await;
    assert_eq!(answer, Ok(Frame::Pong { nonce: 42 }));
    // `from` is the caller's authenticated name.
    assert_eq!(rec_b.calls(), vec![(id("a"), Frame::Ping { nonce: 42 })]);

    // The other way round, on a connection of b's own.
    let answer = within(b.request(id("a"), Frame::Ping { nonce: 7 })).await;
    assert_eq!(answer, Ok(Frame::Pong { nonce: 7 }));
    assert_eq!(rec_a.calls(), vec![(id("b"), Frame::Ping { nonce: 7 })]);

    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.connections_opened, sa.connections_accepted), (1, 1));
    assert_eq!((sb.connections_opened, sb.connections_accepted), (1, 1));
    assert_eq!((sa.requests_sent, sa.requests_served), (1, 1));
    assert_eq!(sa.handshakes_refused + sb.handshakes_refused, 0);
    assert!(sa.bytes_sent > 0 && sa.bytes_received > 0);

    // A frame over the limit never leaves.
    let huge = Frame::Outcome {
        id: goldfish_core::MessageId(1),
        outcome: wire::Outcome::Reply(Payload(vec![0; wire::MAX_FRAME])),
    };
    let err = within(a.request(id("b"), huge)).await.unwrap_err();
    assert!(matches!(err, TransportError::TooLarge { .. }), "{err:?}");
    assert_eq!(a.stats().requests_sent, 1);
}

#[tokio::test]
async fn one_connection_is_reused_and_64_concurrent_requests_get_their_own_answers() {
    let certs = certs::generate_in_memory(&["a", "b"]).unwrap();
    let a = node(&certs, "a").await;
    let (b, rec, _) = serving(&certs, "b").await;
    introduce(&a, &b);

    // 64 first requests at once share one connection attempt.
    let mut set = JoinSet::new();
    for nonce in 0..64u64 {
        let a = a.clone();
        set.spawn(async move { (nonce, a.request(id("b"), Frame::Ping { nonce }).await) });
    }
    let mut seen = 0;
    while let Some(done) = within(set.join_next()).await {
        let (nonce, answer) = done.unwrap();
        assert_eq!(answer, Ok(Frame::Pong { nonce }));
        seen += 1;
    }
    assert_eq!(seen, 64);
    for nonce in 100..150 {
        let answer = within(a.request(id("b"), Frame::Ping { nonce })).await;
        assert_eq!(answer, Ok(Frame::Pong { nonce }));
    }

    assert_eq!(a.stats().connections_opened, 1);
    assert_eq!(b.stats().connections_accepted, 1);
    assert_eq!(a.stats().requests_sent, 114);
    assert_eq!(b.stats().requests_served, 114);
    let calls = rec.calls();
    assert_eq!(calls.len(), 114);
    assert!(calls.iter().all(|(from, _)| *from == id("a")));
}

#[tokio::test]
async fn a_peer_without_a_client_certificate_is_refused() {
    let mut logs = capture_logs();
    let certs = certs::generate_in_memory(&["b"]).unwrap();
    let (b, rec, _) = serving(&certs, "b").await;
    let raw = raw_endpoint(&certs.ca.cert_pem, None, ALPN);

    let result = within(raw_session(&raw, b.local_addr(), "b", "b")).await;
    assert!(result.is_err(), "a client with no certificate got through");

    let warned = logs.warning("refused an incoming").await;
    assert_eq!(
        warned.fields["remote"],
        raw.local_addr().unwrap().to_string()
    );
    assert!(!warned.fields["reason"].is_empty());
    assert_eq!(b.stats().handshakes_refused, 1);
    assert_eq!(b.stats().connections_accepted, 0);
    assert!(rec.calls().is_empty());
}

#[tokio::test]
async fn a_peer_with_a_certificate_from_another_ca_is_refused() {
    let mut logs = capture_logs();
    let certs = certs::generate_in_memory(&["a", "b"]).unwrap();
    let other = certs::generate_in_memory(&["a", "b"]).unwrap();
    let (b, rec, _) = serving(&certs, "b").await;

    // A raw client that trusts b, but whose own certificate is from another CA.
    let raw = raw_endpoint(&certs.ca.cert_pem, other.node(id("a")), ALPN);
    let result = within(raw_session(&raw, b.local_addr(), "b", "a")).await;
    assert!(result.is_err(), "a foreign certificate got through");
    let warned = logs.warning("refused an incoming").await;
    assert_eq!(
        warned.fields["remote"],
        raw.local_addr().unwrap().to_string()
    );
    assert_eq!(b.stats().handshakes_refused, 1);

    // A whole node of the other cluster: the caller gets Unreachable.
    let stranger = node(&other, "a").await;
    introduce(&stranger, &b);
    let err = within(stranger.request(id("b"), Frame::Ping { nonce: 1 }))
        .await
        .unwrap_err();
    assert!(
        reason_of(&err).starts_with(reason::HANDSHAKE_REFUSED),
        "{err:?}"
    );
    logs.warning("outgoing handshake refused").await;
    assert_eq!(stranger.stats().handshakes_refused, 1);
    assert_eq!(stranger.stats().connections_opened, 0);
    logs.warning("refused an incoming").await;
    assert_eq!(b.stats().handshakes_refused, 2);
    assert_eq!(b.stats().connections_accepted, 0);
    assert!(rec.calls().is_empty());

    // And a node cannot be configured with a certificate the CA did not sign.
    let mut mixed = certs.config(id("a"), loopback()).unwrap();
    mixed.cert_pem = other.node(id("a")).unwrap().cert_pem.clone().into();
    mixed.key_pem = other.node(id("a")).unwrap().key_pem.clone().into();
    let err = QuicTransport::bind(mixed).await.unwrap_err();
    assert!(matches!(err, QuicError::Certificate(_)), "{err}");
}

#[tokio::test]
async fn a_peer_whose_certificate_is_for_another_name_is_refused() {
    let mut logs = capture_logs();
    let certs = certs::generate_in_memory(&["a", "b", "c"]).unwrap();
    let a = node(&certs, "a").await;
    let (b, rec, _) = serving(&certs, "b").await;

    // a means to reach c, but b (whose certificate says b) answers there.
    a.set_address(id("c"), &b.local_addr().to_string());
    let err = within(a.request(id("c"), Frame::Ping { nonce: 1 }))
        .await
        .unwrap_err();
    assert!(
        reason_of(&err).starts_with(reason::HANDSHAKE_REFUSED),
        "{err:?}"
    );
    let warned = logs.warning("outgoing handshake refused").await;
    assert_eq!(warned.fields["remote"], b.local_addr().to_string());
    assert_eq!(warned.fields["node"], "c");
    assert_eq!(a.stats().handshakes_refused, 1);
    assert_eq!(a.stats().connections_opened, 0);
    logs.warning("refused an incoming").await;
    assert_eq!(b.stats().handshakes_refused, 1);
    assert!(rec.calls().is_empty());
}

#[tokio::test]
async fn a_client_claiming_another_name_is_refused() {
    let mut logs = capture_logs();
    let certs = certs::generate_in_memory(&["a", "b", "c"]).unwrap();
    let (b, rec, _) = serving(&certs, "b").await;

    // a's certificate, but a Hello that says c.
    let raw = raw_member(&certs, "a");
    let result = within(raw_session(&raw, b.local_addr(), "b", "c")).await;
    assert!(result.is_err(), "a false claim got through");
    let warned = logs.warning("refused an incoming connection").await;
    assert!(
        warned.fields["reason"].contains("claims to be `c`"),
        "{warned:?}"
    );
    assert_eq!(b.stats().handshakes_refused, 1);

    // A request where the Hello should be is not handled either.
    let conn = within(raw.connect(b.local_addr(), "b").unwrap())
        .await
        .unwrap();
    let answer = within(raw_exchange(&conn, &prefixed(&Frame::Ping { nonce: 1 }))).await;
    assert!(answer.is_err());
    logs.warning("refused an incoming connection").await;
    assert_eq!(b.stats().handshakes_refused, 2);
    assert_eq!(b.stats().connections_accepted, 0);
    assert!(rec.calls().is_empty());
}

#[tokio::test]
async fn a_peer_offering_another_alpn_is_refused() {
    let mut logs = capture_logs();
    let certs = certs::generate_in_memory(&["a", "b"]).unwrap();
    let (b, rec, _) = serving(&certs, "b").await;

    let raw = raw_endpoint(&certs.ca.cert_pem, certs.node(id("a")), b"other/1");
    let result = within(raw_session(&raw, b.local_addr(), "b", "a")).await;
    assert!(result.is_err(), "another ALPN got through");
    let warned = logs.warning("refused an incoming").await;
    assert_eq!(
        warned.fields["remote"],
        raw.local_addr().unwrap().to_string()
    );
    assert_eq!(b.stats().handshakes_refused, 1);
    assert!(rec.calls().is_empty());
}

#[tokio::test]
async fn oversized_and_malformed_frames_are_refused_while_a_concurrent_request_succeeds() {
    let mut logs = capture_logs();
    let certs = certs::generate_in_memory(&["a", "b"]).unwrap();
    let b = node_with(&certs, "b", |c| c.max_frame = 4096).await;
    let (rec, _) = Recorder::new();
    b.serve(rec.clone());
    let raw = raw_member(&certs, "a");
    let conn = within(raw_session(&raw, b.local_addr(), "b", "a"))
        .await
        .unwrap();

    // Stream 1: a length over b's limit, and the stream left open.
    let (mut big_send, mut big_recv) = conn.open_bi().await.unwrap();
    big_send.write_all(&4097u32.to_be_bytes()).await.unwrap();
    big_send.write_all(&[0u8; 100]).await.unwrap();
    // Stream 2: a valid length, then bytes that are not a frame.
    let (mut bad_send, mut bad_recv) = conn.open_bi().await.unwrap();
    bad_send.write_all(&10u32.to_be_bytes()).await.unwrap();
    bad_send.write_all(&[0xff; 10]).await.unwrap();
    bad_send.finish().unwrap();
    // Stream 3, meanwhile: a good request on the same connection.
    let answer = within(raw_exchange(&conn, &prefixed(&Frame::Ping { nonce: 3 }))).await;
    assert_eq!(answer.unwrap(), Frame::Pong { nonce: 3 });

    let big = within(read_answer(&mut big_recv)).await.unwrap_err();
    assert_eq!(reset_code(&big), Some(code::FRAME_TOO_LARGE), "{big:?}");
    let bad = within(read_answer(&mut bad_recv)).await.unwrap_err();
    assert_eq!(reset_code(&bad), Some(code::FRAME_MALFORMED), "{bad:?}");
    let warned = logs.warning("oversized").await;
    assert_eq!(warned.fields["len"], "4097");
    logs.warning("malformed").await;

    // The connection is still good.
    let answer = within(raw_exchange(&conn, &prefixed(&Frame::Ping { nonce: 4 }))).await;
    assert_eq!(answer.unwrap(), Frame::Pong { nonce: 4 });
    assert!(conn.close_reason().is_none());

    let stats = b.stats();
    assert_eq!(stats.frames_refused_oversized, 1);
    assert_eq!(stats.frames_refused_malformed, 1);
    assert_eq!(stats.requests_served, 2);
    assert_eq!(stats.connections_accepted, 1);
    assert_eq!(
        rec.calls(),
        vec![
            (id("a"), Frame::Ping { nonce: 3 }),
            (id("a"), Frame::Ping { nonce: 4 })
        ]
    );
    drop(big_send);
}

#[tokio::test]
async fn requests_before_serve_or_to_unknown_nodes_are_unreachable() {
    let certs = certs::generate_in_memory(&["a", "b"]).unwrap();
    let a = node(&certs, "a").await;
    let b = node(&certs, "b").await;

    let err = within(a.request(id("b"), Frame::Ping { nonce: 1 }))
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), reason::NO_ADDRESS);

    introduce(&a, &b);
    let err = within(a.request(id("b"), Frame::Ping { nonce: 2 }))
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), reason::NOT_SERVING);

    let (rec, _) = Recorder::new();
    b.serve(rec.clone());
    let answer = within(a.request(id("b"), Frame::Ping { nonce: 3 })).await;
    assert_eq!(answer, Ok(Frame::Pong { nonce: 3 }));
    assert_eq!(a.stats().connections_opened, 1);
    assert_eq!(rec.calls().len(), 1);
}

#[tokio::test]
async fn a_peer_that_nobody_answers_for_times_out_then_backs_off() {
    let certs = certs::generate_in_memory(&["a", "b"]).unwrap();
    let a = node_with(&certs, "a", |c| {
        c.connect_timeout = Duration::from_millis(300);
        c.backoff_min = Duration::from_secs(60);
        c.backoff_max = Duration::from_secs(60);
    })
    .await;
    // A socket that swallows every packet.
    let hole = std::net::UdpSocket::bind(loopback()).unwrap();
    a.set_address(id("b"), &hole.local_addr().unwrap().to_string());

    // Eight first requests share the one (failing) attempt.
    let mut set = JoinSet::new();
    for nonce in 0..8 {
        let a = a.clone();
        set.spawn(async move { a.request(id("b"), Frame::Ping { nonce }).await });
    }
    while let Some(done) = within(set.join_next()).await {
        let err = done.unwrap().unwrap_err();
        assert!(
            reason_of(&err).starts_with(reason::CONNECT_TIMEOUT),
            "{err:?}"
        );
    }
    assert_eq!(a.stats().connect_failures, 1);

    // During the backoff, requests fail at once without a new attempt.
    let started = Instant::now();
    let err = within(a.request(id("b"), Frame::Ping { nonce: 9 }))
        .await
        .unwrap_err();
    assert!(reason_of(&err).starts_with(reason::BACKING_OFF), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(300));
    assert_eq!(a.stats().connect_failures, 1);
}

#[tokio::test]
async fn a_peer_that_closed_fails_promptly_and_is_reached_again_after_a_restart() {
    let certs = certs::generate_in_memory(&["a", "b"]).unwrap();
    let a = node_with(&certs, "a", |c| {
        // Long enough that only a prompt refusal passes the checks below.
        c.connect_timeout = Duration::from_secs(20);
        c.backoff_min = Duration::from_secs(30);
        c.backoff_max = Duration::from_secs(60);
    })
    .await;
    let (b, rec, mut ev) = serving(&certs, "b").await;
    introduce(&a, &b);
    assert_eq!(
        within(a.request(id("b"), Frame::Ping { nonce: 1 })).await,
        Ok(Frame::Pong { nonce: 1 })
    );

    // A request in flight when b closes fails promptly.
    let held = tokio::spawn({
        let a = a.clone();
        async move { a.request(id("b"), Frame::Ping { nonce: HOLD }).await }
    });
    within(async { while ev.arrived.recv().await.unwrap().1 != (Frame::Ping { nonce: HOLD }) {} })
        .await;
    within(b.close()).await;
    let err = within(held).await.unwrap().unwrap_err();
    assert_eq!(reason_of(&err), reason::PEER_CLOSED);

    // So does the next one, without waiting out a connection attempt.
    let started = Instant::now();
    let err = within(a.request(id("b"), Frame::Ping { nonce: 2 }))
        .await
        .unwrap_err();
    assert!(reason_of(&err).starts_with(reason::BACKING_OFF), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // b comes back under the same name, elsewhere: a reconnects.
    let (b2, rec2, _) = serving(&certs, "b").await;
    introduce(&a, &b2);
    assert_eq!(
        within(a.request(id("b"), Frame::Ping { nonce: 3 })).await,
        Ok(Frame::Pong { nonce: 3 })
    );
    assert_eq!(a.stats().connections_opened, 2);
    assert_eq!(rec.calls().len(), 2);
    assert_eq!(rec2.calls(), vec![(id("a"), Frame::Ping { nonce: 3 })]);
    rec.release();
}

#[tokio::test]
async fn close_then_request_is_closed() {
    let certs = certs::generate_in_memory(&["a", "b"]).unwrap();
    let a = node(&certs, "a").await;
    let (b, rec, mut ev) = serving(&certs, "b").await;
    introduce(&a, &b);

    // A request in flight when its own node closes ends with Closed.
    let held = tokio::spawn({
        let a = a.clone();
        async move { a.request(id("b"), Frame::Ping { nonce: HOLD }).await }
    });
    within(ev.arrived.recv()).await.unwrap();
    within(a.close()).await;
    assert_eq!(within(held).await.unwrap(), Err(TransportError::Closed));
    assert!(a.is_closed());

    assert_eq!(
        within(a.request(id("b"), Frame::Ping { nonce: 1 })).await,
        Err(TransportError::Closed)
    );
    a.set_address(id("b"), &b.local_addr().to_string());
    assert_eq!(
        within(a.request(id("b"), Frame::Ping { nonce: 2 })).await,
        Err(TransportError::Closed)
    );
    within(a.close()).await;
    assert_eq!(rec.calls().len(), 1);
    rec.release();
}

#[tokio::test]
async fn dropping_the_callers_future_does_not_cancel_the_callees_work() {
    let certs = certs::generate_in_memory(&["a", "b"]).unwrap();
    let a = node(&certs, "a").await;
    let (b, rec, mut ev) = serving(&certs, "b").await;
    introduce(&a, &b);

    let held = tokio::spawn({
        let a = a.clone();
        async move { a.request(id("b"), Frame::Ping { nonce: HOLD }).await }
    });
    within(ev.arrived.recv()).await.unwrap();
    held.abort();
    let _ = held.await;
    rec.release();
    // The handler runs to its end although nobody waits for the answer.
    assert_eq!(
        within(ev.finished.recv()).await,
        Some(Frame::Pong { nonce: HOLD })
    );
    // And the connection serves on.
    assert_eq!(
        within(a.request(id("b"), Frame::Ping { nonce: 5 })).await,
        Ok(Frame::Pong { nonce: 5 })
    );
    assert_eq!(a.stats().connections_opened, 1);
}

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "goldfish-quic-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn certificates_on_disk_work_and_an_existing_ca_is_kept() {
    let tmp = TempDir::new("certs");
    let dir = tmp.0.join("cluster");
    let made = certs::generate(&dir, &["n1", "n2"]).unwrap();
    assert_eq!(made.ca_cert, dir.join("ca.pem"));
    assert_eq!(made.nodes[1].key, dir.join("n2.key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&made.ca_key), 0o600);
        assert_eq!(mode(&made.nodes[0].key), 0o600);
    }
    let ca_before = std::fs::read(&made.ca_cert).unwrap();

    // The CA is not replaced unless asked.
    let err = certs::generate(&dir, &["n1"]).unwrap_err();
    assert!(matches!(err, certs::CertError::CaExists(_)), "{err}");
    assert_eq!(std::fs::read(&made.ca_cert).unwrap(), ca_before);

    // A node added later is signed by the same CA.
    let n3 = certs::add_node(&dir, "n3").unwrap();
    let err = certs::add_node(&dir, "n3").unwrap_err();
    assert!(matches!(err, certs::CertError::NodeExists { .. }), "{err}");
    assert!(certs::add_node(&dir, "ca").is_err());

    let config = |name: &str, files: &certs::NodeFiles| {
        goldfish_transport_quic::QuicConfig::from_files(
            id(name),
            loopback(),
            &made.ca_cert,
            &files.cert,
            &files.key,
        )
        .unwrap()
    };
    let t1 = QuicTransport::bind(config("n1", &made.nodes[0]))
        .await
        .unwrap();
    let t3 = QuicTransport::bind(config("n3", &n3)).await.unwrap();
    let (rec, _) = Recorder::new();
    t1.serve(rec.clone());
    introduce(&t3, &t1);
    assert_eq!(
        within(t3.request(id("n1"), Frame::Ping { nonce: 1 })).await,
        Ok(Frame::Pong { nonce: 1 })
    );
    assert_eq!(rec.calls()[0].0, id("n3"));
    t1.close().await;
    t3.close().await;

    // Starting over is possible, on request.
    let again = certs::generate_overwriting(&dir, &["n1"]).unwrap();
    assert_ne!(std::fs::read(&again.ca_cert).unwrap(), ca_before);
}

#[test]
fn bad_settings_are_refused() {
    let certs = certs::generate_in_memory(&["a"]).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = certs.config(id("a"), loopback()).unwrap();
        c.keep_alive = c.idle_timeout;
        assert!(matches!(
            QuicTransport::bind(c).await,
            Err(QuicError::Config(_))
        ));
        let mut c = certs.config(id("a"), loopback()).unwrap();
        c.key_pem = b"not a key".to_vec();
        assert!(matches!(
            QuicTransport::bind(c).await,
            Err(QuicError::Pem { .. })
        ));
    });
}
