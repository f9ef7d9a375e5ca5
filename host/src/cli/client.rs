//! `goldfish deploy | undeploy | invoke | actors`: talk to a running node over
//! its HTTP ingress.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

/// Where the node is and how to prove who we are.
#[derive(clap::Args, Clone)]
pub(crate) struct Remote {
    /// The node's HTTP address.
    #[arg(long, env = "GOLDFISH_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The bearer token (admin for deploy, undeploy and actors; invoke for
    /// invoke). Defaults to GOLDFISH_ADMIN_TOKEN or GOLDFISH_INVOKE_TOKEN.
    #[arg(long)]
    token: Option<String>,
    /// A CA certificate (PEM) to trust for an https:// node with a private CA.
    #[arg(long)]
    cacert: Option<PathBuf>,
}

/// Options of `goldfish deploy`.
#[derive(clap::Args)]
pub(crate) struct DeployArgs {
    /// The function's name.
    name: String,
    /// The module: a `.wasm` file (or `.wat` text).
    file: PathBuf,
    /// A limit of the function, `key=value` (repeatable), e.g. `--set idle_ms=5000`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    #[command(flatten)]
    remote: Remote,
}

/// Options of `goldfish undeploy`.
#[derive(clap::Args)]
pub(crate) struct UndeployArgs {
    /// The function's name.
    name: String,
    #[command(flatten)]
    remote: Remote,
}

/// Options of `goldfish invoke`.
#[derive(clap::Args)]
pub(crate) struct InvokeArgs {
    /// `function` (any instance) or `function/key` (the actor with that key).
    target: String,
    /// The payload; `-` reads it from standard input.
    payload: Option<String>,
    /// Read the payload from this file.
    #[arg(long, conflicts_with = "payload")]
    file: Option<PathBuf>,
    /// The message's session key.
    #[arg(long)]
    session: Option<String>,
    /// How long to wait at most, in milliseconds.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Run at most once for this key (a retry returns the first outcome).
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

/// Options of `goldfish actors`.
#[derive(clap::Args)]
pub(crate) struct ActorsArgs {
    #[command(flatten)]
    remote: Remote,
}

struct Response {
    status: StatusCode,
    body: Bytes,
}

impl Remote {
    fn token(&self, env: &str) -> Option<String> {
        self.token
            .clone()
            .or_else(|| std::env::var(env).ok().filter(|t| !t.is_empty()))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        token: Option<String>,
        body: Vec<u8>,
    ) -> anyhow::Result<Response> {
        let base: hyper::Uri = self
            .url
            .parse()
            .with_context(|| format!("bad --url {:?}", self.url))?;
        let https = match base.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => bail!("--url must start with http:// or https://"),
        };
        let host = base.host().context("--url has no host")?.to_string();
        let port = base.port_u16().unwrap_or(if https { 443 } else { 80 });
        let prefix = base.path().trim_end_matches('/');
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .with_context(|| {
                format!(
                    "cannot reach the node at {}: is `goldfish serve` running?",
                    self.url
                )
            })?;
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{prefix}{path}"))
            .header(hyper::header::HOST, format!("{host}:{port}"));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(t) = token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req.body(Full::new(Bytes::from(body)))?;
        let resp = if https {
            let tls = self.tls()?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())?;
            let stream = tls
                .connect(name, tcp)
                .await
                .context("TLS handshake with the node")?;
            exchange(TokioIo::new(stream), req).await?
        } else {
            exchange(TokioIo::new(tcp), req).await?
        };
        Ok(resp)
    }

    fn tls(&self) -> anyhow::Result<tokio_rustls::TlsConnector> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let mut roots = rustls::RootCertStore::empty();
        let Some(path) = &self.cacert else {
            bail!("an https:// node needs --cacert <ca.pem> (this build trusts no public CAs)");
        };
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        for c in CertificateDer::pem_slice_iter(&pem) {
            roots.add(c?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }
}

async fn exchange<S>(io: TokioIo<S>, req: Request<Full<Bytes>>) -> anyhow::Result<Response>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok(Response { status, body })
}

/// The `message` of a JSON error, or the body as text.
fn explain(r: &Response) -> String {
    serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&r.body).into_owned())
}

fn fail(r: &Response) -> anyhow::Error {
    anyhow::anyhow!("{} {}", r.status.as_u16(), explain(r))
}

pub(crate) async fn deploy(a: DeployArgs) -> anyhow::Result<()> {
    let wasm = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let mut query = vec![];
    for kv in &a.set {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--set {kv:?}: expected key=value"))?;
        query.push(format!("{k}={v}"));
    }
    let path = if query.is_empty() {
        format!("/functions/{}", a.name)
    } else {
        format!("/functions/{}?{}", a.name, query.join("&"))
    };
    let token = a.remote.token("GOLDFISH_ADMIN_TOKEN");
    let r = a.remote.send(Method::PUT, &path, &[], token, wasm).await?;
    if r.status != StatusCode::CREATED {
        return Err(fail(&r));
    }
    println!(
        "deployed {} ({} bytes)",
        a.name,
        std::fs::metadata(&a.file).map_or(0, |m| m.len())
    );
    Ok(())
}

pub(crate) async fn undeploy(a: UndeployArgs) -> anyhow::Result<()> {
    let token = a.remote.token("GOLDFISH_ADMIN_TOKEN");
    let r = a
        .remote
        .send(
            Method::DELETE,
            &format!("/functions/{}", a.name),
            &[],
            token,
            vec![],
        )
        .await?;
    if r.status != StatusCode::OK {
        return Err(fail(&r));
    }
    println!("undeployed {}", a.name);
    Ok(())
}

pub(crate) async fn invoke(a: InvokeArgs) -> anyhow::Result<()> {
    let payload = match (&a.file, a.payload.as_deref()) {
        (Some(f), _) => std::fs::read(f).with_context(|| format!("reading {}", f.display()))?,
        (None, Some("-")) => {
            let mut buf = vec![];
            std::io::stdin().read_to_end(&mut buf)?;
            buf
        }
        (None, Some(p)) => p.as_bytes().to_vec(),
        (None, None) => vec![],
    };
    let path = match a.target.split_once('/') {
        Some((f, k)) => format!("/actors/{f}/{}", percent_encode(k)),
        None => format!("/functions/{}", a.target),
    };
    let mut headers = vec![];
    if let Some(s) = &a.session {
        headers.push(("goldfish-session", s.clone()));
    }
    if let Some(t) = a.timeout_ms {
        headers.push(("goldfish-timeout-ms", t.to_string()));
    }
    if let Some(k) = &a.idempotency_key {
        headers.push(("idempotency-key", k.clone()));
    }
    let token = a.remote.token("GOLDFISH_INVOKE_TOKEN");
    let r = a
        .remote
        .send(Method::POST, &path, &headers, token, payload)
        .await?;
    if r.status != StatusCode::OK {
        return Err(fail(&r));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&r.body)?;
    if out.is_terminal() && !r.body.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) async fn actors(a: ActorsArgs) -> anyhow::Result<()> {
    let token = a.remote.token("GOLDFISH_ADMIN_TOKEN");
    let r = a
        .remote
        .send(Method::GET, "/actors", &[], token, vec![])
        .await?;
    if r.status != StatusCode::OK {
        return Err(fail(&r));
    }
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(&r.body).context("the node's answer is not JSON")?;
    if list.is_empty() {
        println!("no live actors");
        return Ok(());
    }
    println!(
        "{:<28} {:<10} {:>10} {:>9}",
        "ACTOR", "PHASE", "IDLE", "MESSAGES"
    );
    for a in list {
        let idle = a
            .get("idle_ms")
            .and_then(|v| v.as_u64())
            .map_or("-".to_string(), |ms| format!("{ms} ms"));
        println!(
            "{:<28} {:<10} {:>10} {:>9}",
            a.get("id").and_then(|v| v.as_str()).unwrap_or("?"),
            a.get("phase").and_then(|v| v.as_str()).unwrap_or("?"),
            idle,
            a.get("messages").and_then(|v| v.as_u64()).unwrap_or(0)
        );
    }
    Ok(())
}
