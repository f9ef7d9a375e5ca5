//! `goldfish serve`: run a node until Ctrl-C (or SIGTERM), then drain it.

use std::path::PathBuf;

use anyhow::Context;
use goldfish_host::http::Ingress;
use goldfish_host::node_config::{HttpSection, NodeConfig};

/// Options of `goldfish serve`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The node's configuration file (TOML; see the README's configuration
    /// reference). Without one: a single node named `node` with HTTP on
    /// 127.0.0.1:8080 and no functions (deploy them with `goldfish deploy`).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Listen for HTTP here instead (e.g. 127.0.0.1:9000).
    #[arg(long)]
    http: Option<String>,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => NodeConfig::from_file(path)?,
        None => NodeConfig::from_toml("name = \"node\"\n[http]\n")?,
    };
    if let Some(listen) = args.http {
        config.http.get_or_insert_with(HttpSection::default).listen = listen;
    }
    let http = config.http_config()?;
    let node = config
        .start()
        .await
        .with_context(|| format!("starting node `{}`", config.name))?;
    let ingress = match http {
        Some(h) => {
            let admin = h.admin_token.is_some();
            let ingress = Ingress::start(node.clone(), h).await?;
            println!(
                "HTTP on {}{}",
                ingress.local_addr(),
                if admin {
                    ""
                } else {
                    " (no admin token: deploying and listing are refused; set GOLDFISH_ADMIN_TOKEN)"
                }
            );
            Some(ingress)
        }
        None => None,
    };
    let functions: Vec<String> = node.functions().iter().map(|f| f.to_string()).collect();
    println!(
        "node {} is up: functions [{}], QUIC {}, registry {:?}",
        node.name(),
        functions.join(", "),
        config
            .quic
            .as_ref()
            .map_or("off".to_string(), |q| q.listen.clone()),
        config.registry.kind
    );
    wait_for_signal().await;
    println!("shutting down: finishing accepted messages ...");
    if let Some(i) = ingress {
        i.stop().await;
    }
    node.shutdown().await;
    println!("node {} stopped", node.name());
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
