//! HTTP ingress: invoke functions and actors, deploy and remove functions,
//! list actors, metrics and health, with bearer-token access control and
//! optional TLS.
//!
//! | method and path | token | what |
//! |---|---|---|
//! | `POST /functions/{name}` | invoke | send the body to any instance of `name`; the reply is the response body |
//! | `POST /actors/{name}/{key}` | invoke | send the body to the actor `name/key` |
//! | `PUT /functions/{name}` | admin | deploy the body (a `.wasm` module, or `.wat` text) as `name`; limits as query parameters (`?idle_ms=5000&max_instances=4`, the keys of the function configuration) |
//! | `DELETE /functions/{name}` | admin | remove `name` (accepted messages finish first) |
//! | `GET /functions` | admin | deployed functions and their counters |
//! | `GET /actors` | admin | live actors: id, phase, idle time, messages |
//! | `GET /metrics` | none | Prometheus text |
//! | `GET /healthz` | none | `200` while serving, `503` while shutting down |
//!
//! Request headers: `goldfish-timeout-ms` (the message's deadline),
//! `goldfish-session` (its session key), `idempotency-key` (a retry with the
//! same key and target within ten minutes gets the first request's outcome
//! and does not run again). Outcomes map to statuses: `200` reply, `404`
//! unknown function, `413` too large, `429` overloaded or busy and `503`
//! unavailable or shutting down (both with `Retry-After`), `504` expired,
//! `500` failed, `502` the node running it was lost; errors are JSON
//! `{"error": "...", "message": "..."}` with a message a user can act on.
//!
//! Tokens are compared in constant time (digests of both sides). The admin
//! token is required for the admin endpoints (with none configured they are
//! refused); the invoke token, if one is configured, for invoking. A missing
//! token is `401`, a wrong one `403`, and neither changes anything.

// Handlers return an early `Response` as their error; boxing it would only
// move the allocation around.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use goldfish_core::wire::Outcome;
use goldfish_core::{FaultKind, FunctionId, Key, RejectReason, Target};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

use crate::config::FunctionConfig;
use crate::metrics::Metrics;
use crate::node::{Call, DeployError, Node};

/// How long an idempotency key is remembered.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(600);
/// How many idempotency keys are remembered at most.
const IDEMPOTENCY_CAP: usize = 10_000;

/// The HTTP ingress's settings.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Where to listen (the default is loopback only).
    pub listen: SocketAddr,
    /// Required for deploying, removing and listing.
    pub admin_token: Option<String>,
    /// Required for invoking, if set.
    pub invoke_token: Option<String>,
    /// Largest request body, in bytes (a module or a payload).
    pub max_body: usize,
    /// Serve HTTPS with this certificate chain and key (PEM).
    pub tls: Option<TlsPem>,
}

/// A certificate chain and private key, PEM.
#[derive(Clone)]
pub struct TlsPem {
    /// The certificate chain.
    pub cert: Vec<u8>,
    /// The private key.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for TlsPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsPem { .. }")
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_token: None,
            invoke_token: None,
            max_body: 32 << 20,
            tls: None,
        }
    }
}

/// Why the ingress could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
}

/// A running HTTP ingress.
pub struct Ingress {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Ingress {
    /// Binds and starts serving `node`.
    pub async fn start(node: Node, config: HttpConfig) -> Result<Ingress, HttpError> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| HttpError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| HttpError::Bind {
            addr: config.listen,
            source,
        })?;
        let tls = match &config.tls {
            Some(pem) => Some(tls_acceptor(pem)?),
            None => None,
        };
        let app = router(node, &config);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, app, tls, stopped));
        tracing::info!(%addr, tls = config.tls.is_some(), "HTTP ingress listening");
        Ok(Ingress {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits for the requests in progress.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }
}

fn tls_acceptor(pem: &TlsPem) -> Result<tokio_rustls::TlsAcceptor, HttpError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem.cert)
        .collect::<Result<_, _>>()
        .map_err(|e| HttpError::Tls(format!("certificate: {e}")))?;
    if certs.is_empty() {
        return Err(HttpError::Tls("no certificate in the PEM".into()));
    }
    let key =
        PrivateKeyDer::from_pem_slice(&pem.key).map_err(|e| HttpError::Tls(format!("key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| HttpError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stopped: oneshot::Receiver<()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let graceful = GracefulShutdown::new();
    let builder = Builder::new(TokioExecutor::new());
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = &mut stopped => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        match &tls {
            None => {
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "HTTP connection ended");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match acceptor.accept(stream).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(%peer, error = %e, "TLS handshake refused");
                            return;
                        }
                    };
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%peer, error = %e, "HTTPS connection ended");
                    }
                });
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Remembered outcomes of requests with an idempotency key.
#[derive(Default)]
struct Idempotency {
    entries: HashMap<String, Remembered>,
}

enum Remembered {
    Running(Vec<oneshot::Sender<Outcome>>),
    Done(Outcome, Instant),
}

struct AppState {
    node: Node,
    metrics: Metrics,
    admin: Option<[u8; 32]>,
    invoke: Option<[u8; 32]>,
    max_body: usize,
    idempotency: Mutex<Idempotency>,
}

type Shared = Arc<AppState>;

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// The ingress as an axum router (for embedding and tests).
pub fn router(node: Node, config: &HttpConfig) -> Router {
    let state = Arc::new(AppState {
        metrics: Metrics::new(&node.inner),
        node,
        admin: config.admin_token.as_deref().map(digest),
        invoke: config.invoke_token.as_deref().map(digest),
        max_body: config.max_body,
        idempotency: Mutex::new(Idempotency::default()),
    });
    Router::new()
        .route("/functions", get(list_functions))
        .route(
            "/functions/{name}",
            post(invoke_function).put(deploy).delete(undeploy),
        )
        .route("/actors", get(list_actors))
        .route("/actors/{name}/{*key}", post(invoke_actor))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_status,
        ))
        .with_state(state)
}

async fn count_status(
    State(st): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let resp = next.run(req).await;
    st.metrics.http.count(resp.status().as_u16());
    resp
}

/// A JSON error a user can act on.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    #[derive(Serialize)]
    struct Body<'a> {
        error: &'a str,
        message: String,
    }
    let mut r = (
        status,
        axum::Json(Body {
            error: code,
            message: message.into(),
        }),
    )
        .into_response();
    if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint: use POST /functions/{name}, POST /actors/{name}/{key}, PUT or DELETE /functions/{name}, GET /actors, /metrics or /healthz",
    )
}

/// Which token an endpoint needs.
#[derive(Clone, Copy)]
enum Need {
    Admin,
    Invoke,
}

fn authorize(st: &AppState, headers: &HeaderMap, need: Need) -> Result<(), Response> {
    let expected = match need {
        Need::Admin => match st.admin {
            Some(d) => d,
            None => {
                return Err(error(
                    StatusCode::FORBIDDEN,
                    "admin_disabled",
                    "no admin token is configured on this node: set [http] admin_token or GOLDFISH_ADMIN_TOKEN to deploy, remove and list",
                ))
            }
        },
        Need::Invoke => match st.invoke {
            Some(d) => d,
            None => return Ok(()),
        },
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(given) = given else {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this endpoint needs a token: send `Authorization: Bearer <token>`",
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Err(r);
    };
    if bool::from(digest(given).ct_eq(&expected)) {
        Ok(())
    } else {
        Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the token is not valid for this endpoint",
        ))
    }
}

async fn read_body(st: &AppState, body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, st.max_body).await.map_err(|_| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the request body is over this node's limit of {} bytes",
                st.max_body
            ),
        )
    })
}

fn function_name(name: &str) -> Result<FunctionId, Response> {
    FunctionId::new(name).map_err(|e| error(StatusCode::BAD_REQUEST, "bad_name", e.to_string()))
}

/// What the request headers say about the message.
struct MessageOptions {
    session: Option<Key>,
    timeout: Option<Duration>,
    idempotency_key: Option<String>,
}

/// The message options from the request headers.
fn options(headers: &HeaderMap) -> Result<MessageOptions, Response> {
    let text = |name: &str| -> Result<Option<&str>, Response> {
        headers
            .get(name)
            .map(|v| {
                v.to_str().map_err(|_| {
                    error(
                        StatusCode::BAD_REQUEST,
                        "bad_header",
                        format!("header {name} is not text"),
                    )
                })
            })
            .transpose()
    };
    let session = text("goldfish-session")?
        .map(|s| {
            Key::new(s).map_err(|e| {
                error(
                    StatusCode::BAD_REQUEST,
                    "bad_session",
                    format!("goldfish-session: {e}"),
                )
            })
        })
        .transpose()?;
    let timeout = text("goldfish-timeout-ms")?
        .map(|s| match s.parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
            _ => Err(error(
                StatusCode::BAD_REQUEST,
                "bad_timeout",
                "goldfish-timeout-ms must be a positive number of milliseconds",
            )),
        })
        .transpose()?;
    let idem = text("idempotency-key")?
        .map(|s| {
            if s.is_empty() || s.len() > 256 {
                Err(error(
                    StatusCode::BAD_REQUEST,
                    "bad_idempotency_key",
                    "idempotency-key must be 1 to 256 characters",
                ))
            } else {
                Ok(s.to_string())
            }
        })
        .transpose()?;
    Ok(MessageOptions {
        session,
        timeout,
        idempotency_key: idem,
    })
}

async fn invoke_function(
    State(st): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match function_name(&name) {
        Ok(f) => invoke(st, Target::Function(f), headers, body).await,
        Err(r) => r,
    }
}

async fn invoke_actor(
    State(st): State<Shared>,
    Path((name, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let f = match function_name(&name) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match Key::new(&key) {
        Ok(k) => invoke(st, Target::Actor(f, k), headers, body).await,
        Err(e) => error(StatusCode::BAD_REQUEST, "bad_key", e.to_string()),
    }
}

async fn invoke(st: Shared, target: Target, headers: HeaderMap, body: Body) -> Response {
    if let Err(r) = authorize(&st, &headers, Need::Invoke) {
        return r;
    }
    let MessageOptions {
        session,
        timeout,
        idempotency_key: idem,
    } = match options(&headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let payload = match read_body(&st, body).await {
        Ok(b) => b.to_vec(),
        Err(r) => return r,
    };
    let call = Call {
        target,
        payload,
        session,
        timeout,
    };
    let outcome = match idem {
        None => st.node.invoke_with(call).await,
        Some(k) => once(&st, format!("{target}\u{0}{k}"), call).await,
    };
    outcome_response(target, outcome)
}

/// Runs `call` once per idempotency key: later requests with the key get the
/// first one's outcome (waiting for it if it is still running).
async fn once(st: &Shared, key: String, call: Call) -> Outcome {
    let rx = {
        let mut idem = st
            .idempotency
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if idem.entries.len() >= IDEMPOTENCY_CAP {
            idem.entries
                .retain(|_, e| !matches!(e, Remembered::Done(_, at) if now.duration_since(*at) > IDEMPOTENCY_TTL));
        }
        match idem.entries.get_mut(&key) {
            Some(Remembered::Done(o, at)) if now.duration_since(*at) <= IDEMPOTENCY_TTL => {
                return o.clone()
            }
            Some(Remembered::Running(waiters)) => {
                let (tx, rx) = oneshot::channel();
                waiters.push(tx);
                Some(rx)
            }
            _ => {
                idem.entries
                    .insert(key.clone(), Remembered::Running(vec![]));
                None
            }
        }
    };
    if let Some(rx) = rx {
        return rx
            .await
            .unwrap_or(Outcome::rejected(RejectReason::Unavailable));
    }
    // Run it in a task of its own, so a client that goes away does not leave
    // the key running forever.
    let (node, st2) = (st.node.clone(), st.clone());
    let task = tokio::spawn(async move {
        let outcome = node.invoke_with(call).await;
        let mut idem = st2
            .idempotency
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(Remembered::Running(waiters)) = idem
            .entries
            .insert(key, Remembered::Done(outcome.clone(), Instant::now()))
        {
            for w in waiters {
                let _ = w.send(outcome.clone());
            }
        }
        outcome
    });
    task.await
        .unwrap_or(Outcome::rejected(RejectReason::Unavailable))
}

fn outcome_response(target: Target, outcome: Outcome) -> Response {
    match outcome {
        Outcome::Reply(p) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))],
            p.0,
        )
            .into_response(),
        Outcome::Failed(f) if f.kind == FaultKind::NodeLost => error(
            StatusCode::BAD_GATEWAY,
            "node_lost",
            format!("the node running {target} was lost before it answered (the message may have run): {}", f.detail),
        ),
        Outcome::Failed(f) => {
            #[derive(Serialize)]
            struct Failed {
                error: &'static str,
                kind: &'static str,
                message: String,
            }
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(Failed {
                    error: "failed",
                    kind: f.kind.as_str(),
                    message: format!("{target} failed ({}) after its retries: {}", f.kind, f.detail),
                }),
            )
                .into_response()
        }
        Outcome::Expired => error(
            StatusCode::GATEWAY_TIMEOUT,
            "expired",
            format!("{target} did not answer before the deadline (raise goldfish-timeout-ms?)"),
        ),
        Outcome::Rejected(r) => rejection(target, r),
    }
}

fn rejection(target: Target, r: RejectReason) -> Response {
    let f = target.function();
    match r {
        RejectReason::UnknownFunction => error(
            StatusCode::NOT_FOUND,
            "unknown_function",
            format!("function `{f}` is not deployed; deploy it with `goldfish deploy {f} {f}.wasm`"),
        ),
        RejectReason::TooLarge => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the payload is over `{f}`'s max_payload"),
        ),
        RejectReason::Overloaded => error(
            StatusCode::TOO_MANY_REQUESTS,
            "overloaded",
            format!("`{f}` has no free instance and its buffer is full; retry later"),
        ),
        RejectReason::Busy => error(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            format!("{target} is busy and refuses new messages until its current one is done; retry later"),
        ),
        RejectReason::ShuttingDown => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "this node is shutting down; send to another node",
        ),
        RejectReason::Unavailable => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{target} cannot be hosted right now (the node lost its cluster lease); retry"),
        ),
        RejectReason::DeadlinePassed => error(
            StatusCode::GATEWAY_TIMEOUT,
            "expired",
            "the deadline had passed when the message arrived",
        ),
        other => error(StatusCode::SERVICE_UNAVAILABLE, other.as_str(), other.to_string()),
    }
}

async fn deploy(
    State(st): State<Shared>,
    Path(name): Path<String>,
    config: Result<Query<FunctionConfig>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(r) = authorize(&st, &headers, Need::Admin) {
        return r;
    }
    let config = match config {
        Ok(Query(c)) => c,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_config",
                format!(
                "{} (the query keys are the function configuration's: idle_ms, max_instances, ...)",
                e.body_text()
            ),
            )
        }
    };
    let wasm = match read_body(&st, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match st.node.deploy(&name, &wasm, config.clone()) {
        Ok(f) => {
            #[derive(Serialize)]
            struct Deployed {
                function: String,
                config: FunctionConfig,
            }
            (
                StatusCode::CREATED,
                axum::Json(Deployed {
                    function: f.to_string(),
                    config,
                }),
            )
                .into_response()
        }
        Err(e) => {
            let (status, code) = match &e {
                DeployError::Name(_) => (StatusCode::BAD_REQUEST, "bad_name"),
                DeployError::Config(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_config"),
                DeployError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_module"),
                DeployError::Abi(_) => (StatusCode::BAD_REQUEST, "abi"),
                DeployError::AlreadyDeployed(_) => (StatusCode::CONFLICT, "already_deployed"),
                DeployError::NotDeployed(_) => (StatusCode::NOT_FOUND, "unknown_function"),
                DeployError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            };
            error(status, code, e.to_string())
        }
    }
}

async fn undeploy(
    State(st): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&st, &headers, Need::Admin) {
        return r;
    }
    match st.node.undeploy(&name).await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "undeployed": name })),
        )
            .into_response(),
        Err(e @ DeployError::NotDeployed(_)) => {
            error(StatusCode::NOT_FOUND, "unknown_function", e.to_string())
        }
        Err(e @ DeployError::Name(_)) => error(StatusCode::BAD_REQUEST, "bad_name", e.to_string()),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        ),
    }
}

async fn list_actors(State(st): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&st, &headers, Need::Admin) {
        return r;
    }
    #[derive(Serialize)]
    struct Actor {
        id: String,
        function: String,
        phase: &'static str,
        idle_ms: Option<u64>,
        messages: u64,
        disposition: String,
        memory_bytes: Option<usize>,
    }
    let actors: Vec<Actor> = st
        .node
        .actors()
        .into_iter()
        .map(|a| Actor {
            id: a.id.to_string(),
            function: a.id.function.to_string(),
            phase: a.phase.as_str(),
            idle_ms: a
                .idle_for
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            messages: a.messages,
            disposition: format!("{:?}", a.disposition),
            memory_bytes: a.memory_bytes,
        })
        .collect();
    axum::Json(actors).into_response()
}

async fn list_functions(State(st): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&st, &headers, Need::Admin) {
        return r;
    }
    #[derive(Serialize)]
    struct Function {
        name: String,
        actors_created: u64,
        messages: u64,
        replies: u64,
        failed: u64,
        rejected: u64,
        expired: u64,
    }
    let fs: Vec<Function> = st
        .node
        .functions()
        .into_iter()
        .filter_map(|f| {
            let s = st.node.stats(f.as_str())?;
            Some(Function {
                name: f.to_string(),
                actors_created: s.spawned,
                messages: s.runs,
                replies: s.replied,
                failed: s.failed,
                rejected: s.rejected,
                expired: s.expired,
            })
        })
        .collect();
    axum::Json(fs).into_response()
}

async fn metrics(State(st): State<Shared>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        st.metrics.render(),
    )
        .into_response()
}

async fn healthz(State(st): State<Shared>) -> Response {
    if st.node.is_shutting_down() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "this node is shutting down",
        );
    }
    axum::Json(serde_json::json!({ "status": "ok", "node": st.node.name().to_string() }))
        .into_response()
}
