//! `goldfish`: run the demo, benchmark the warm path.

use clap::{Parser, Subcommand};

mod cli;

/// GoldFish: serverless WebAssembly actors with short-term memory.
///
/// A node runs functions as actors that keep their memory between messages
/// and scale to zero when idle. `serve` runs one; `deploy`, `invoke`,
/// `actors` and `undeploy` talk to it over HTTP (GOLDFISH_URL,
/// GOLDFISH_ADMIN_TOKEN, GOLDFISH_INVOKE_TOKEN); `demo` and `bench` run
/// on their own.
#[derive(Parser)]
#[command(
    name = "goldfish",
    version,
    about,
    long_about,
    after_help = "Logs: RUST_LOG=info (or debug, or goldfish_host=trace) on standard error."
)]
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
    /// Deploy a module as a function on a running node.
    ///
    /// Example: goldfish deploy counter examples/wasm/counter.wasm --set idle_ms=10000
    Deploy(cli::client::DeployArgs),
    /// Remove a function from a running node (accepted messages finish first).
    ///
    /// Example: goldfish undeploy counter
    Undeploy(cli::client::UndeployArgs),
    /// Send a message and print the reply.
    ///
    /// Examples:
    ///   goldfish invoke echo hello                    (any instance)
    ///   goldfish invoke counter/field-7 tick          (the actor with key field-7)
    ///   goldfish invoke ingest --file reading.txt
    ///   echo field=1,sensor=s1,t=20,h=50,m=0.2,ts=1 | goldfish invoke ingest -
    Invoke(cli::client::InvokeArgs),
    /// List the live actors of a running node: phase, idle time, messages.
    ///
    /// Example: goldfish actors
    Actors(cli::client::ActorsArgs),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => cli::demo::run(args).await,
            Command::Bench(b) => cli::bench::run(b).await,
            Command::Serve(args) => cli::serve::run(args).await,
            Command::Certs(args) => cli::certs::run(args),
            Command::Deploy(args) => cli::client::deploy(args).await,
            Command::Undeploy(args) => cli::client::undeploy(args).await,
            Command::Invoke(args) => cli::client::invoke(args).await,
            Command::Actors(args) => cli::client::actors(args).await,
        }
    })
}
