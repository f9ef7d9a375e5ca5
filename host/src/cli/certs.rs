//! `goldfish certs`: a cluster CA and node certificates for mutual TLS.

use std::path::PathBuf;

use anyhow::Context;
use goldfish_transport_quic::certs;

/// Options of `goldfish certs`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The folder to write into (created if missing).
    #[arg(long, short, default_value = "certs")]
    out: PathBuf,
    /// Add these nodes to the CA already in the folder instead of making a new CA.
    #[arg(long)]
    add: bool,
    /// Replace a CA that is already there (every old node certificate stops working).
    #[arg(long, conflicts_with = "add")]
    overwrite: bool,
    /// The node names to issue certificates for (each certificate is valid
    /// for that name only).
    #[arg(required = true)]
    nodes: Vec<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    if args.add {
        for n in &args.nodes {
            let f = certs::add_node(&args.out, n).with_context(|| format!("issuing for {n}"))?;
            println!("{}: {} and {}", f.node, f.cert.display(), f.key.display());
        }
        return Ok(());
    }
    let names: Vec<&str> = args.nodes.iter().map(String::as_str).collect();
    let made = if args.overwrite {
        certs::generate_overwriting(&args.out, &names)
    } else {
        certs::generate(&args.out, &names)
    }
    .with_context(|| format!("writing certificates to {}", args.out.display()))?;
    println!(
        "cluster CA: {} (key {})",
        made.ca_cert.display(),
        made.ca_key.display()
    );
    for f in &made.nodes {
        println!("{}: {} and {}", f.node, f.cert.display(), f.key.display());
    }
    println!("point each node's [quic] ca, cert and key at these files; keep ca.key private");
    Ok(())
}
