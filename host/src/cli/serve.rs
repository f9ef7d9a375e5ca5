//! `goldfish serve`: run a node from its configuration file until Ctrl-C.

use std::path::PathBuf;

use anyhow::Context;
use goldfish_host::node_config::NodeConfig;

/// Options of `goldfish serve`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The node's configuration file (TOML; see the README's configuration reference).
    #[arg(long, short)]
    config: PathBuf,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let config = NodeConfig::from_file(&args.config)?;
    let node = config
        .start()
        .await
        .with_context(|| format!("starting node `{}`", config.name))?;
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
