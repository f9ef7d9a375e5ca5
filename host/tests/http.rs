//! The HTTP ingress against a real client over loopback sockets: every
//! endpoint, every error path, the token checks, idempotency, metrics that
//! parse as Prometheus text and move with traffic, TLS, graceful stop.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{guest, node_with_hold, wat, Held};
use goldfish_host::http::{HttpConfig, Ingress, TlsPem};
use goldfish_host::{FunctionConfig, Node};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

/// A response as the test sees it.
struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The JSON error's code, checking the body is JSON with a message.
    fn error(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()));
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        v["error"].as_str().unwrap().to_string()
    }
}

struct Client {
    addr: std::net::SocketAddr,
}

impl Client {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Resp {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = sender
            .send_request(req.body(Full::new(body.into())).unwrap())
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes().to_vec(),
        }
    }

    async fn post(&self, path: &str, body: &str) -> Resp {
        self.send(Method::POST, path, &[], body.to_string()).await
    }
}

const ADMIN: &str = "admin-secret";
/// A session key over the 64-byte limit.
const LONG_KEY: &str = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
const BEARER: &str = "Bearer admin-secret";

async fn serve(node: &Node, tweak: impl FnOnce(&mut HttpConfig)) -> (Ingress, Client) {
    let mut config = HttpConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_token: Some(ADMIN.into()),
        ..HttpConfig::default()
    };
    tweak(&mut config);
    let ingress = Ingress::start(node.clone(), config).await.unwrap();
    let client = Client {
        addr: ingress.local_addr(),
    };
    (ingress, client)
}

#[tokio::test]
async fn invoking_functions_and_actors_returns_the_reply_and_state_survives() {
    let node = common::node(FunctionConfig::default());
    let (_ingress, c) = serve(&node, |_| {}).await;
    let r = c.post("/functions/echo", "hello").await;
    assert_eq!((r.status, r.text()), (StatusCode::OK, "hello".into()));
    assert_eq!(r.headers["content-type"], "application/octet-stream");
    for want in ["1", "2", "3"] {
        assert_eq!(c.post("/actors/counter/field-7", "x").await.text(), want);
    }
    // A key with spaces and slashes, percent-encoded.
    assert_eq!(c.post("/actors/counter/a%2Fb%20c", "x").await.text(), "1");
    let r = c
        .send(
            Method::POST,
            "/functions/relay",
            &[("goldfish-session", "s-1")],
            "session",
        )
        .await;
    assert_eq!(r.text(), "s-1");
    let r = c.send(Method::GET, "/healthz", &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("\"node\":\"n1\""), "{}", r.text());
}

#[tokio::test]
async fn deploy_list_and_remove_with_the_admin_token() {
    let node = Node::builder().name("n1").build().unwrap();
    let (_ingress, c) = serve(&node, |_| {}).await;
    let auth = [("authorization", BEARER)];
    let r = c
        .send(
            Method::PUT,
            "/functions/echo?idle_ms=60000&max_instances=2",
            &auth,
            guest("echo"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        (
            v["function"].as_str(),
            v["config"]["max_instances"].as_u64()
        ),
        (Some("echo"), Some(2))
    );
    assert_eq!(c.post("/functions/echo", "hi").await.text(), "hi");
    let r = c.send(Method::GET, "/actors", &auth, "").await;
    let actors: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(actors[0]["id"], "echo#0");
    assert_eq!(actors[0]["phase"], "SUSPENDED");
    assert_eq!(actors[0]["messages"], 1);
    let r = c.send(Method::GET, "/functions", &auth, "").await;
    assert!(r.text().contains("\"name\":\"echo\""), "{}", r.text());
    let r = c
        .send(Method::PUT, "/functions/echo", &auth, guest("echo"))
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::CONFLICT, "already_deployed".into())
    );
    let r = c.send(Method::DELETE, "/functions/echo", &auth, "").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = c.post("/functions/echo", "hi").await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "unknown_function".into())
    );
    assert!(
        r.text().contains("goldfish deploy echo echo.wasm"),
        "{}",
        r.text()
    );
    let r = c.send(Method::DELETE, "/functions/echo", &auth, "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Bad modules and bad limits are clear errors, and deploy nothing.
    let r = c
        .send(Method::PUT, "/functions/junk", &auth, "not wasm")
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "invalid_module".into())
    );
    let r = c
        .send(Method::PUT, "/functions/wrong", &auth, wat("wrongabi"))
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "abi".into())
    );
    let r = c
        .send(
            Method::PUT,
            "/functions/e2?max_instances=0",
            &auth,
            guest("echo"),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "bad_config".into())
    );
    let r = c
        .send(Method::PUT, "/functions/e2?idle=5", &auth, guest("echo"))
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "bad_config".into())
    );
    assert!(r.text().contains("idle"), "{}", r.text());
    let r = c
        .send(Method::PUT, "/functions/bad!name", &auth, guest("echo"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(node.functions().is_empty());
}

#[tokio::test]
async fn tokens_are_checked_and_a_refused_request_changes_nothing() {
    let node = common::node(FunctionConfig::default());
    let (_ingress, c) = serve(&node, |h| h.invoke_token = Some("inv".into())).await;
    // Invoking needs the invoke token.
    let r = c.post("/functions/echo", "x").await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "unauthorized".into())
    );
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    let r = c
        .send(
            Method::POST,
            "/functions/echo",
            &[("authorization", "Bearer nope")],
            "x",
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    let r = c
        .send(
            Method::POST,
            "/actors/counter/a",
            &[("authorization", "Bearer inv")],
            "x",
        )
        .await;
    assert_eq!(r.text(), "1", "the refused requests did not count");
    // Admin endpoints need the admin token; the invoke token is not enough.
    let before = node.functions();
    for (method, path) in [
        (Method::PUT, "/functions/e2"),
        (Method::DELETE, "/functions/echo"),
        (Method::GET, "/actors"),
    ] {
        let r = c.send(method.clone(), path, &[], guest("echo")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let r = c
            .send(
                method.clone(),
                path,
                &[("authorization", "Bearer inv")],
                guest("echo"),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    assert_eq!(node.functions(), before);
    // With no admin token configured, admin endpoints are refused outright.
    let (_i2, c2) = serve(&node, |h| h.admin_token = None).await;
    let r = c2
        .send(Method::GET, "/actors", &[("authorization", BEARER)], "")
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, "admin_disabled".into())
    );
}

#[tokio::test]
async fn outcomes_map_to_statuses_with_actionable_errors() {
    let config = FunctionConfig {
        max_instances: 1,
        buffer_count: 0,
        max_payload: 64,
        fuel: 1_000_000,
        ..FunctionConfig::default()
    };
    let (node, mut held) = node_with_hold(config.clone()).await;
    node.deploy("trap", &wat("trap"), config.clone()).unwrap();
    // Room for an addressed actor next to relay's single instance.
    node.deploy(
        "refuser",
        guest("relay"),
        FunctionConfig {
            max_instances: 2,
            ..config.clone()
        },
    )
    .unwrap();
    let (_ingress, c) = serve(&node, |h| h.max_body = 1024).await;
    // 500: the guest failed after its retries.
    let r = c.post("/functions/trap", "x").await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::INTERNAL_SERVER_ERROR, "failed".into())
    );
    assert!(r.text().contains("\"kind\":\"trap\""), "{}", r.text());
    // 413: over the function's max_payload, and over the node's body limit.
    let r = c.post("/functions/echo", &"x".repeat(65)).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".into())
    );
    let r = c.post("/functions/echo", &"x".repeat(2048)).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".into())
    );
    // 429 with Retry-After: one instance, busy, no room to wait.
    let busy = tokio::spawn({
        let c = Client { addr: c.addr };
        async move { c.post("/functions/relay", "call hold go").await }
    });
    let (req, answer) = held.next().await;
    let r = c.post("/functions/relay", "id").await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::TOO_MANY_REQUESTS, "overloaded".into())
    );
    assert_eq!(r.headers["retry-after"], "1");
    Held::answer(&req, answer, "done");
    assert_eq!(busy.await.unwrap().text(), "ok:done");
    // 429: an addressed actor that refuses while busy.
    let busy = tokio::spawn({
        let c = Client { addr: c.addr };
        async move {
            c.post("/actors/refuser/k", "next refuse call hold go")
                .await
        }
    });
    let (req, answer) = held.next().await;
    let r = c.post("/actors/refuser/k", "id").await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::TOO_MANY_REQUESTS, "busy".into())
    );
    Held::answer(&req, answer, "done");
    busy.await.unwrap();
    // 504: the deadline passes while it waits for `hold`.
    let r = c
        .send(
            Method::POST,
            "/actors/refuser/k",
            &[("goldfish-timeout-ms", "50")],
            "call hold go",
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::GATEWAY_TIMEOUT, "expired".into())
    );
    let _unanswered = held.next().await;
    // 400s: bad headers, names and keys.
    for (h, v) in [
        ("goldfish-timeout-ms", "soon"),
        ("goldfish-timeout-ms", "0"),
        ("goldfish-session", LONG_KEY),
    ] {
        let r = c
            .send(Method::POST, "/functions/echo", &[(h, v)], "x")
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{h}: {v}");
        r.error();
    }
    assert_eq!(
        c.post("/functions/bad!name", "x").await.status,
        StatusCode::BAD_REQUEST
    );
    let r = c.send(Method::GET, "/nowhere", &[], "").await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    // 503 with Retry-After once the node is going away.
    node.abort();
    let r = c.post("/functions/echo", "x").await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::SERVICE_UNAVAILABLE, "shutting_down".into())
    );
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(
        c.send(Method::GET, "/healthz", &[], "").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn an_idempotency_key_runs_a_message_once() {
    let node = common::node(FunctionConfig::default());
    let (_ingress, c) = serve(&node, |_| {}).await;
    let key = [("idempotency-key", "order-42")];
    let first = c.send(Method::POST, "/actors/counter/a", &key, "x").await;
    let again = c.send(Method::POST, "/actors/counter/a", &key, "x").await;
    assert_eq!((first.text(), again.text()), ("1".into(), "1".into()));
    // Other targets with the same key are other requests.
    assert_eq!(
        c.send(Method::POST, "/actors/counter/b", &key, "x")
            .await
            .text(),
        "1"
    );
    assert_eq!(
        c.post("/actors/counter/a", "x").await.text(),
        "2",
        "it ran once"
    );
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            _ => f64::NAN,
        })
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
}

async fn scrape(c: &Client) -> prometheus_parse::Scrape {
    let r = c.send(Method::GET, "/metrics", &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    if std::env::var("SHOW_METRICS").is_ok() {
        eprintln!("{}", r.text());
    }
    let lines = r
        .text()
        .lines()
        .map(|l| Ok(l.to_string()))
        .collect::<Vec<_>>();
    prometheus_parse::Scrape::parse(lines.into_iter()).expect("Prometheus text")
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_move_with_traffic() {
    let node = common::node(FunctionConfig::default());
    node.deploy("trap", &wat("trap"), FunctionConfig::default())
        .unwrap();
    let (_ingress, c) = serve(&node, |_| {}).await;
    let before = scrape(&c).await;
    let echo = [("function", "echo")];
    let replies = value(
        &before,
        "goldfish_invocations_total",
        &[("function", "echo"), ("outcome", "reply")],
    );
    for _ in 0..3 {
        c.post("/functions/echo", "x").await;
    }
    c.post("/functions/trap", "x").await;
    c.post("/functions/nosuch", "x").await;
    let after = scrape(&c).await;
    assert_eq!(
        value(
            &after,
            "goldfish_invocations_total",
            &[("function", "echo"), ("outcome", "reply")]
        ),
        replies + 3.0
    );
    assert_eq!(
        value(
            &after,
            "goldfish_invocations_total",
            &[("function", "trap"), ("outcome", "failed")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "goldfish_faults_total",
            &[("function", "trap"), ("kind", "trap")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &after,
            "goldfish_terminations_total",
            &[("function", "trap"), ("cause", "fault")]
        ),
        3.0
    );
    assert_eq!(value(&after, "goldfish_activations_total", &echo), 1.0);
    assert_eq!(value(&after, "goldfish_live_actors", &echo), 1.0);
    assert_eq!(value(&after, "goldfish_queue_depth", &echo), 0.0);
    assert!(value(&after, "goldfish_fuel_used_total", &echo) > 0.0);
    assert_eq!(
        value(&after, "goldfish_run_seconds", &echo),
        3.0,
        "histogram count"
    );
    assert_eq!(value(&after, "goldfish_wait_seconds", &echo), 3.0);
    assert!(value(&after, "goldfish_http_requests_total", &[("status", "2xx")]) >= 4.0);
    assert_eq!(
        value(&after, "goldfish_http_requests_total", &[("status", "4xx")]),
        1.0
    );
    assert_eq!(value(&after, "goldfish_peers", &[]), 0.0);
    assert_eq!(
        value(
            &after,
            "goldfish_transport_bytes_total",
            &[("direction", "sent")]
        ),
        0.0
    );
}

#[tokio::test]
async fn stopping_the_ingress_finishes_requests_in_progress() {
    let (node, mut held) = node_with_hold(FunctionConfig::default()).await;
    let (ingress, c) = serve(&node, |_| {}).await;
    let addr = c.addr;
    let in_flight = tokio::spawn(async move {
        Client { addr }
            .post("/functions/relay", "call hold go")
            .await
    });
    let (req, answer) = held.next().await;
    let stop = tokio::spawn(ingress.stop());
    // New connections are refused once the listener is closed...
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "the listener closes");
    // ...while the request in progress gets its answer.
    Held::answer(&req, answer, "done");
    assert_eq!(in_flight.await.unwrap().text(), "ok:done");
    tokio::time::timeout(Duration::from_secs(5), stop)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn https_with_a_certificate_from_the_config() {
    let certs = goldfish_transport_quic::certs::generate_in_memory(&["localhost"]).unwrap();
    let pair = &certs.nodes[0].1;
    let node = common::node(FunctionConfig::default());
    let (_ingress, c) = serve(&node, |h| {
        h.tls = Some(TlsPem {
            cert: pair.cert_pem.clone().into_bytes(),
            key: pair.key_pem.clone().into_bytes(),
        })
    })
    .await;
    // A client that trusts the CA gets through.
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(certs.ca.cert_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(c.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = sender
        .send_request(
            Request::post("/functions/echo")
                .header("host", "localhost")
                .body(Full::new(Bytes::from("over tls")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.into_body().collect().await.unwrap().to_bytes(),
        "over tls"
    );
    // Plain HTTP to the TLS port gets no HTTP answer.
    let tcp = tokio::net::TcpStream::connect(c.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let plain = sender
        .send_request(
            Request::get("/healthz")
                .header("host", "x")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert!(plain.is_err(), "plain HTTP is not served on the TLS port");
}
