//! `goldfish`: run the demo, benchmark the warm path.

use clap::{Parser, Subcommand};

mod cli;

/// GoldFish: serverless WebAssembly actors with short-term memory.
#[derive(Parser)]
#[command(name = "goldfish", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the paper's smart-agriculture workflow on an embedded node and
    /// show what happened.
    ///
    /// Example: goldfish demo --readings 1000 --fields 6
    Demo(cli::demo::Args),
    /// Measure the platform.
    #[command(subcommand)]
    Bench(cli::bench::Bench),
    /// Run a node from its configuration file until Ctrl-C (or SIGTERM),
    /// then drain it.
    ///
    /// Example: goldfish serve --config examples/cluster/cloud.toml
    Serve(cli::serve::Args),
    /// Make a cluster CA and node certificates for mutual TLS between nodes.
    ///
    /// Example: goldfish certs --out certs edge-1 cloud-1
    Certs(cli::certs::Args),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => cli::demo::run(args).await,
            Command::Bench(b) => cli::bench::run(b).await,
            Command::Serve(args) => cli::serve::run(args).await,
            Command::Certs(args) => cli::certs::run(args),
        }
    })
}
