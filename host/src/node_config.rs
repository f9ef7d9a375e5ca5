//! The node configuration file read by `goldfish serve --config node.toml`.
//!
//! Every key is documented on its field (and in the README's configuration
//! reference); unknown keys are an error, so a typo does not silently fall
//! back to a default. Relative paths are relative to the file's directory.
//!
//! ```toml
//! name = "edge-1"
//!
//! [quic]
//! listen = "127.0.0.1:7001"
//! ca = "certs/ca.pem"
//! cert = "certs/edge-1.pem"
//! key = "certs/edge-1.key"
//!
//! [registry]
//! kind = "redis"
//! url = "redis://127.0.0.1:6379"
//!
//! [[functions]]
//! name = "ingest"
//! wasm = "../wasm/ingest.wasm"
//! config = { idle_ms = 30000 }
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::FunctionConfig;

/// A node's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's name in the cluster (ASCII letters, digits, `-`, `_`, `.`);
    /// its certificate must be issued for this name.
    pub name: String,
    /// QUIC with mutual TLS to other nodes. Without it the node runs alone.
    #[serde(default)]
    pub quic: Option<QuicSection>,
    /// Where the cluster's registry is.
    #[serde(default)]
    pub registry: RegistrySection,
    /// HTTP ingress (callers and operators).
    #[serde(default)]
    pub http: Option<HttpSection>,
    /// Functions to deploy at start.
    #[serde(default)]
    pub functions: Vec<FunctionSection>,
    /// The directory the file was read from (relative paths resolve against it).
    #[serde(skip)]
    pub base: PathBuf,
}

/// `[quic]`: the node's QUIC endpoint and its identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuicSection {
    /// UDP address to listen on, e.g. `0.0.0.0:7001`.
    pub listen: String,
    /// The address peers dial, published in the registry (default: `listen`).
    #[serde(default)]
    pub advertise: Option<String>,
    /// The cluster CA certificate (PEM): peers must present a certificate it signed.
    pub ca: PathBuf,
    /// This node's certificate chain (PEM), issued for `name`.
    pub cert: PathBuf,
    /// This node's private key (PEM).
    pub key: PathBuf,
    /// Largest frame accepted, in bytes (default 17 MiB: a 16 MiB payload).
    #[serde(default)]
    pub max_frame: Option<usize>,
    /// QUIC keep-alive interval, in ms (default 5000).
    #[serde(default)]
    pub keep_alive_ms: Option<u64>,
    /// A connection with no traffic for this long is closed, in ms (default 30000).
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
}

/// `[registry]`: which registry, and the membership lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySection {
    /// `memory` (the default: this process only) or `redis`.
    #[serde(default)]
    pub kind: RegistryKind,
    /// The Redis URL, for `kind = "redis"`, e.g. `redis://127.0.0.1:6379/0`.
    #[serde(default)]
    pub url: Option<String>,
    /// The cluster's name: the key prefix in Redis, so clusters can share a
    /// server (default `goldfish`).
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// The membership lease, in ms (default 10000). The node heartbeats every
    /// third of it and stops hosting addressed actors if it cannot renew it
    /// for two thirds of it.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
}

impl Default for RegistrySection {
    fn default() -> Self {
        RegistrySection {
            kind: RegistryKind::Memory,
            url: None,
            cluster: default_cluster(),
            lease_ms: default_lease_ms(),
        }
    }
}

fn default_cluster() -> String {
    "goldfish".into()
}

fn default_lease_ms() -> u64 {
    10_000
}

/// The registry's kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistryKind {
    /// In this process only.
    #[default]
    Memory,
    /// A Redis server.
    Redis,
}

/// `[http]`: the HTTP ingress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// TCP address to listen on (default `127.0.0.1:8080`: loopback only).
    #[serde(default = "default_http_listen")]
    pub listen: String,
    /// Bearer token for deploying, removing and listing (the environment
    /// variable `GOLDFISH_ADMIN_TOKEN` overrides it). Without one, those
    /// endpoints are refused.
    #[serde(default)]
    pub admin_token: Option<String>,
    /// Bearer token for invoking (`GOLDFISH_INVOKE_TOKEN` overrides it).
    /// Without one, invoking is open to whoever reaches the listener.
    #[serde(default)]
    pub invoke_token: Option<String>,
    /// Largest request body in bytes (default 32 MiB).
    #[serde(default = "default_max_body")]
    pub max_body: usize,
    /// Serve HTTPS with this certificate chain (PEM)...
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// ... and this key (PEM).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            listen: default_http_listen(),
            admin_token: None,
            invoke_token: None,
            max_body: default_max_body(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

fn default_max_body() -> usize {
    32 << 20
}

fn default_http_listen() -> String {
    "127.0.0.1:8080".into()
}

/// `[[functions]]`: a function to deploy at start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSection {
    /// The function's name.
    pub name: String,
    /// The module file (`.wasm`, or `.wat` text).
    pub wasm: PathBuf,
    /// Its limits (see `FunctionConfig`); missing keys take their defaults.
    #[serde(default)]
    pub config: FunctionConfig,
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NodeConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a node configuration.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line.
        message: String,
    },
    /// A value is not acceptable.
    #[error("{0}")]
    Invalid(String),
}

impl NodeConfig {
    /// Reads and checks a configuration file.
    pub fn from_file(path: &Path) -> Result<NodeConfig, NodeConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| NodeConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut c = NodeConfig::from_toml(&text).map_err(|e| match e {
            NodeConfigError::Parse { message, .. } => NodeConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })?;
        c.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(c)
    }

    /// Parses and checks a configuration (relative paths resolve against the
    /// current directory).
    pub fn from_toml(text: &str) -> Result<NodeConfig, NodeConfigError> {
        let c: NodeConfig = toml::from_str(text).map_err(|e| NodeConfigError::Parse {
            path: PathBuf::from("<config>"),
            message: e.to_string(),
        })?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), NodeConfigError> {
        let bad = |m: String| Err(NodeConfigError::Invalid(m));
        if let Err(e) = goldfish_core::NodeId::new(&self.name) {
            return bad(format!("name = {:?}: {e}", self.name));
        }
        if let Some(q) = &self.quic {
            match q.listen.parse::<std::net::SocketAddr>() {
                Err(_) => {
                    return bad(format!(
                        "[quic] listen = {:?} is not an address like 0.0.0.0:7001",
                        q.listen
                    ))
                }
                Ok(a) if a.ip().is_unspecified() && q.advertise.is_none() => {
                    return bad(format!(
                        "[quic] listen = {:?} listens on every interface: set advertise = \"host:port\", the address peers dial",
                        q.listen
                    ))
                }
                Ok(_) => {}
            }
        }
        if self.registry.kind == RegistryKind::Redis && self.registry.url.is_none() {
            return bad("[registry] kind = \"redis\" needs url = \"redis://host:port\"".into());
        }
        if self.registry.kind == RegistryKind::Redis && self.quic.is_none() {
            return bad(
                "[registry] kind = \"redis\" is for a cluster: add a [quic] section".into(),
            );
        }
        if self.registry.lease_ms < 300 {
            return bad(format!(
                "[registry] lease_ms = {} is under 300",
                self.registry.lease_ms
            ));
        }
        if let Some(h) = &self.http {
            if h.listen.parse::<std::net::SocketAddr>().is_err() {
                return bad(format!(
                    "[http] listen = {:?} is not an address like 127.0.0.1:8080",
                    h.listen
                ));
            }
            if h.tls_cert.is_some() != h.tls_key.is_some() {
                return bad("[http] tls_cert and tls_key go together".into());
            }
        }
        for f in &self.functions {
            if let Err(e) = goldfish_core::FunctionId::new(&f.name) {
                return bad(format!("[[functions]] name = {:?}: {e}", f.name));
            }
            if let Err(e) = f.config.validate() {
                return bad(format!("[[functions]] {}: {e}", f.name));
            }
        }
        Ok(())
    }

    /// A path from the file, resolved against its directory.
    pub fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses_and_defaults_fill_in() {
        let c = NodeConfig::from_toml(
            r#"
            name = "edge-1"
            [quic]
            listen = "127.0.0.1:7001"
            ca = "certs/ca.pem"
            cert = "certs/edge-1.pem"
            key = "certs/edge-1.key"
            [registry]
            kind = "redis"
            url = "redis://127.0.0.1:6379"
            [[functions]]
            name = "ingest"
            wasm = "ingest.wasm"
            config = { idle_ms = 500 }
            "#,
        )
        .unwrap();
        assert_eq!(c.name, "edge-1");
        assert_eq!(c.registry.cluster, "goldfish");
        assert_eq!(c.registry.lease_ms, 10_000);
        assert_eq!(c.functions[0].config.idle_ms, 500);
        assert_eq!(c.functions[0].config.fuel, FunctionConfig::default().fuel);
    }

    #[test]
    fn mistakes_are_explained() {
        let e = NodeConfig::from_toml("name = \"a\"\nlisten = \"x\"").unwrap_err();
        assert!(e.to_string().contains("unknown field `listen`"), "{e}");
        let e = NodeConfig::from_toml("name = \"bad name\"").unwrap_err();
        assert!(e.to_string().contains("name = \"bad name\""), "{e}");
        let e = NodeConfig::from_toml("name = \"a\"\n[registry]\nkind = \"redis\"").unwrap_err();
        assert!(e.to_string().contains("needs url"), "{e}");
        let e = NodeConfig::from_toml(
            "name = \"a\"\n[[functions]]\nname = \"f\"\nwasm = \"f.wasm\"\nconfig = { max_instances = 0 }",
        )
        .unwrap_err();
        assert!(e.to_string().contains("max_instances"), "{e}");
    }
}

impl NodeConfig {
    /// The HTTP ingress settings, with tokens from the environment
    /// (`GOLDFISH_ADMIN_TOKEN`, `GOLDFISH_INVOKE_TOKEN`) over the file's.
    pub fn http_config(&self) -> Result<Option<crate::http::HttpConfig>, StartError> {
        let Some(h) = &self.http else {
            return Ok(None);
        };
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let tls = match (&h.tls_cert, &h.tls_key) {
            (Some(c), Some(k)) => {
                let read = |p: &Path| {
                    let path = self.path(p);
                    std::fs::read(&path).map_err(|source| StartError::Read { path, source })
                };
                Some(crate::http::TlsPem {
                    cert: read(c)?,
                    key: read(k)?,
                })
            }
            _ => None,
        };
        Ok(Some(crate::http::HttpConfig {
            listen: h
                .listen
                .parse()
                .map_err(|_| StartError::Quic(format!("bad [http] listen {:?}", h.listen)))?,
            admin_token: env("GOLDFISH_ADMIN_TOKEN").or_else(|| h.admin_token.clone()),
            invoke_token: env("GOLDFISH_INVOKE_TOKEN").or_else(|| h.invoke_token.clone()),
            max_body: h.max_body,
            tls,
        }))
    }
}

/// Why a node could not be started from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file named in the configuration cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The QUIC endpoint cannot be set up (certificates, address).
    #[error("QUIC: {0}")]
    Quic(String),
    /// The registry cannot be reached.
    #[error("registry: {0}")]
    Registry(#[from] crate::registry::RegistryError),
    /// The node cannot be built.
    #[error("node: {0}")]
    Build(#[from] crate::node::BuildError),
    /// A function cannot be deployed.
    #[error("function `{function}`: {source}")]
    Deploy {
        /// The function.
        function: String,
        /// Why.
        source: crate::node::DeployError,
    },
}

impl NodeConfig {
    /// Builds the node: its registry, its QUIC endpoint, its functions; then
    /// joins the cluster. Must run inside a tokio runtime.
    pub async fn start(&self) -> Result<crate::Node, StartError> {
        use std::sync::Arc;
        use std::time::Duration;

        let registry: Arc<dyn crate::Registry> = match self.registry.kind {
            RegistryKind::Memory => Arc::new(crate::MemRegistry::new()),
            RegistryKind::Redis => {
                let url = self.registry.url.as_deref().unwrap_or_default();
                Arc::new(crate::RedisRegistry::connect(url, &self.registry.cluster).await?)
            }
        };
        let mut builder = crate::Node::builder()
            .name(&self.name)
            .registry(registry)
            .lease(Duration::from_millis(self.registry.lease_ms));
        if let Some(q) = &self.quic {
            let (transport, address) = self.quic(q).await?;
            builder = builder.transport(transport).address(address);
        }
        let node = builder.build()?;
        for f in &self.functions {
            let path = self.path(&f.wasm);
            let wasm = std::fs::read(&path).map_err(|source| StartError::Read { path, source })?;
            node.deploy(&f.name, &wasm, f.config.clone())
                .map_err(|source| StartError::Deploy {
                    function: f.name.clone(),
                    source,
                })?;
        }
        node.announce().await?;
        Ok(node)
    }

    #[cfg(feature = "quic")]
    async fn quic(
        &self,
        q: &QuicSection,
    ) -> Result<
        (
            std::sync::Arc<dyn goldfish_core::transport::Transport>,
            String,
        ),
        StartError,
    > {
        use goldfish_transport_quic::{QuicConfig, QuicTransport};
        let name =
            goldfish_core::NodeId::new(&self.name).map_err(|e| StartError::Quic(e.to_string()))?;
        let listen = q
            .listen
            .parse()
            .map_err(|_| StartError::Quic(format!("bad listen address {:?}", q.listen)))?;
        let mut config = QuicConfig::from_files(
            name,
            listen,
            self.path(&q.ca),
            self.path(&q.cert),
            self.path(&q.key),
        )
        .map_err(|e| StartError::Quic(e.to_string()))?;
        if let Some(m) = q.max_frame {
            config.max_frame = m;
        }
        if let Some(ms) = q.keep_alive_ms {
            config.keep_alive = std::time::Duration::from_millis(ms);
        }
        if let Some(ms) = q.idle_timeout_ms {
            config.idle_timeout = std::time::Duration::from_millis(ms);
        }
        let t = QuicTransport::bind(config)
            .await
            .map_err(|e| StartError::Quic(e.to_string()))?;
        let address = q
            .advertise
            .clone()
            .unwrap_or_else(|| t.local_addr().to_string());
        Ok((std::sync::Arc::new(t), address))
    }

    #[cfg(not(feature = "quic"))]
    async fn quic(
        &self,
        _q: &QuicSection,
    ) -> Result<
        (
            std::sync::Arc<dyn goldfish_core::transport::Transport>,
            String,
        ),
        StartError,
    > {
        Err(StartError::Quic(
            "this build has no QUIC (the `quic` feature is off)".into(),
        ))
    }
}
