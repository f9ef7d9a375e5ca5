//! `goldfish bench`: measurements that print figures.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goldfish_core::wire::Outcome;
use goldfish_core::Target;
use goldfish_host::{guests, FunctionConfig, Node};

/// The benchmarks.
#[derive(clap::Subcommand)]
pub(crate) enum Bench {
    /// The warm path in one process: invoke -> actor -> reply with a tiny
    /// payload, against a new instance per message (the stateless pattern).
    ///
    /// Example: goldfish bench warm --messages 200000 --seconds 3
    Warm(WarmArgs),
    /// Cross-node invoke over QUIC (mutual TLS) on loopback: a node with no
    /// functions invokes `echo` on another node.
    ///
    /// Example: goldfish bench quic --messages 5000 --seconds 3
    Quic(QuicArgs),
    /// The paper's experiments (section 6) against a stateless baseline
    /// (a new instance per message, state in Redis), in one process and over
    /// QUIC: JSON and CSV results, SVG figures 7 to 11, a ratio table.
    ///
    /// Example: goldfish bench paper --quick --out bench-results
    Paper(super::paper::PaperArgs),
}

/// Options of `goldfish bench quic`.
#[derive(clap::Args)]
pub(crate) struct QuicArgs {
    /// Sequential messages for the latency figures (1 in flight).
    #[arg(long, default_value_t = 5_000)]
    messages: usize,
    /// Seconds of the run with many in flight.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Messages in flight in the second run.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 64)]
    payload: usize,
}

/// Options of `goldfish bench warm`.
#[derive(clap::Args)]
pub(crate) struct WarmArgs {
    /// Sequential messages for the latency figures.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Seconds of the throughput run.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Concurrent callers in the throughput run.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 8)]
    payload: usize,
    /// Use a WAT echo guest with this many 64 KiB pages of initial memory
    /// instead of the Rust echo (1 page): instantiation cost grows with it
    /// (a Rust guest with rustc's default 1 MiB stack starts with 17).
    #[arg(long)]
    pages: Option<u32>,
}

/// An echo guest in WAT with `pages` of initial memory.
fn echo_wat(pages: u32) -> String {
    format!(
        r#"(module
  (import "goldfish" "reply" (func $reply (param i32 i32)))
  (memory (export "memory") {pages})
  (func (export "gf_alloc") (param $len i32) (result i32) (i32.const 1024))
  (func (export "gf_handle") (param $ptr i32) (param $len i32) (result i32)
    (call $reply (local.get $ptr) (local.get $len))
    (i32.const 0)))"#
    )
}

pub(crate) async fn run(b: Bench) -> anyhow::Result<()> {
    match b {
        Bench::Warm(a) => warm(a).await,
        Bench::Quic(a) => quic(a).await,
        Bench::Paper(a) => super::paper::run(a).await,
    }
}

struct Figures {
    p50: Duration,
    p99: Duration,
    sequential_rate: f64,
    throughput: f64,
    spawned: u64,
}

/// A progress bar on standard error (hidden when it is not a terminal).
fn bar(len: u64, what: &str) -> indicatif::ProgressBar {
    indicatif::ProgressBar::new(len).with_style(
        indicatif::ProgressStyle::with_template(&format!("  {what} {{bar:30}} {{pos}}/{{len}}"))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    )
}

/// Waits `seconds` with a spinner.
async fn wait_with_spinner(seconds: f64, what: &str) {
    let s = indicatif::ProgressBar::new_spinner().with_message(format!("{what} for {seconds} s"));
    s.enable_steady_tick(Duration::from_millis(120));
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    s.finish_and_clear();
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

async fn measure(
    node: &Node,
    function: &str,
    messages: usize,
    args: &WarmArgs,
) -> anyhow::Result<Figures> {
    let target = Target::parse(function)?;
    let payload = vec![7u8; args.payload];
    // Warm up: create the actors and let the allocator settle.
    for _ in 0..(messages / 10).max(100) {
        let out = node.invoke(target, payload.clone()).await;
        anyhow::ensure!(matches!(out, Outcome::Reply(_)), "warm-up got {out:?}");
    }
    let mut lat = Vec::with_capacity(messages);
    let progress = bar(messages as u64, &format!("{function}: sequential"));
    let t0 = Instant::now();
    for i in 0..messages {
        let t = Instant::now();
        let out = node.invoke(target, payload.clone()).await;
        lat.push(t.elapsed());
        anyhow::ensure!(matches!(out, Outcome::Reply(_)), "got {out:?}");
        if i % 1024 == 0 {
            progress.set_position(i as u64);
        }
    }
    progress.finish_and_clear();
    let sequential_rate = messages as f64 / t0.elapsed().as_secs_f64();
    lat.sort();

    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (node, stop, count, payload) =
                (node.clone(), stop.clone(), count.clone(), payload.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        if let Outcome::Reply(_) = node.invoke(target, payload.clone()).await {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    wait_with_spinner(
        args.seconds,
        &format!("{function}: {} callers", args.concurrency),
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let throughput = count.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64();
    let spawned = node.stats(function).map_or(0, |s| s.spawned);
    Ok(Figures {
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
        sequential_rate,
        throughput,
        spawned,
    })
}

async fn warm(args: WarmArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.messages > 0 && args.concurrency > 0,
        "--messages and --concurrency must be positive"
    );
    let node = Node::builder().name("bench").build()?;
    // max_wait 0: a caller that finds every instance busy gets a new one
    // rather than waiting, so each concurrent caller keeps a warm actor.
    let warm = FunctionConfig {
        max_wait_ms: 0,
        ..FunctionConfig::default()
    };
    let wat;
    let (wasm, guest): (&[u8], String) = match args.pages {
        Some(p) => {
            anyhow::ensure!((1..=1024).contains(&p), "--pages must be 1..=1024");
            wat = echo_wat(p);
            (wat.as_bytes(), format!("WAT echo, {p} pages"))
        }
        None => (
            guests::ECHO,
            "Rust echo (examples/guests/echo), 1 page".to_string(),
        ),
    };
    node.deploy("echo", wasm, warm.clone())?;
    node.deploy(
        "echo-stateless",
        wasm,
        FunctionConfig {
            stateless: true,
            ..warm
        },
    )?;
    println!(
        "warm path: invoke -> echo actor -> reply, {} B payload, {guest}, one process ({} cores)",
        args.payload,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let w = measure(&node, "echo", args.messages, &args).await?;
    let s = measure(
        &node,
        "echo-stateless",
        (args.messages / 10).max(1_000),
        &args,
    )
    .await?;
    println!();
    println!("                          p50        p99    sequential msg/s   {} callers msg/s   instances", args.concurrency);
    for (name, f) in [
        ("goldfish (warm actor)", &w),
        ("new instance per message", &s),
    ] {
        println!(
            "  {name:<24} {:>6.2} us {:>7.2} us {:>14.0} {:>20.0} {:>11}",
            f.p50.as_secs_f64() * 1e6,
            f.p99.as_secs_f64() * 1e6,
            f.sequential_rate,
            f.throughput,
            f.spawned
        );
    }
    println!(
        "\n  warm / per-message instance: {:.1}x throughput, {:.1}x lower p50",
        w.throughput / s.throughput,
        s.p50.as_secs_f64() / w.p50.as_secs_f64()
    );
    println!(
        "  targets: warm p50 <= 10 us: {}; >= 100k msg/s: {}; >= 10x the per-message instance: {}",
        if w.p50 <= Duration::from_micros(10) {
            "met"
        } else {
            "NOT met"
        },
        if w.throughput >= 100_000.0 {
            "met"
        } else {
            "NOT met"
        },
        if w.throughput >= 10.0 * s.throughput {
            "met"
        } else {
            "NOT met"
        },
    );
    node.shutdown().await;
    Ok(())
}

async fn quic(args: QuicArgs) -> anyhow::Result<()> {
    use goldfish_transport_quic::{certs, QuicTransport};
    anyhow::ensure!(
        args.messages > 0 && args.in_flight > 0,
        "--messages and --in-flight must be positive"
    );
    let certs = certs::generate_in_memory(&["client", "server"])?;
    let registry = Arc::new(goldfish_host::MemRegistry::new());
    let mut nodes = vec![];
    for name in ["client", "server"] {
        let id = goldfish_core::NodeId::new(name)?;
        let config = certs
            .config(id, "127.0.0.1:0".parse()?)
            .ok_or_else(|| anyhow::anyhow!("no certificate for {name}"))?;
        let t = QuicTransport::bind(config).await?;
        let node = Node::builder()
            .name(name)
            .address(t.local_addr().to_string())
            .transport(Arc::new(t))
            .registry(registry.clone())
            .build()?;
        nodes.push(node);
    }
    nodes[1].deploy(
        "echo",
        guests::ECHO,
        FunctionConfig {
            max_wait_ms: 0,
            ..FunctionConfig::default()
        },
    )?;
    for _ in 0..2 {
        for n in &nodes {
            n.announce().await?;
        }
    }
    let (client, target) = (nodes[0].clone(), Target::parse("echo")?);
    let payload = vec![7u8; args.payload];
    println!(
        "cross-node invoke over QUIC with mutual TLS on loopback: node `client` -> `echo` on node `server`, {} B payload ({} cores)",
        args.payload,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for _ in 0..500 {
        let out = client.invoke(target, payload.clone()).await;
        anyhow::ensure!(matches!(out, Outcome::Reply(_)), "warm-up got {out:?}");
    }
    let mut lat = Vec::with_capacity(args.messages);
    let t0 = Instant::now();
    for _ in 0..args.messages {
        let t = Instant::now();
        let out = client.invoke(target, payload.clone()).await;
        lat.push(t.elapsed());
        anyhow::ensure!(matches!(out, Outcome::Reply(_)), "got {out:?}");
    }
    let sequential = args.messages as f64 / t0.elapsed().as_secs_f64();
    lat.sort();
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..args.in_flight)
        .map(|_| {
            let (client, stop, count, payload) =
                (client.clone(), stop.clone(), count.clone(), payload.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Outcome::Reply(_) = client.invoke(target, payload.clone()).await {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    wait_with_spinner(args.seconds, &format!("{} in flight", args.in_flight)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let many = count.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64();
    let (p50, p99) = (pct(&lat, 0.5), pct(&lat, 0.99));
    println!();
    println!(
        "  1 in flight:  p50 {:.0} us   p99 {:.0} us   {:.0} msg/s",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        sequential
    );
    println!("  {} in flight: {:.0} msg/s", args.in_flight, many);
    println!(
        "\n  targets: p50 <= 200 us: {}; >= 30k msg/s at 64 in flight: {}",
        if p50 <= Duration::from_micros(200) {
            "met"
        } else {
            "NOT met"
        },
        if many >= 30_000.0 { "met" } else { "NOT met" },
    );
    for n in &nodes {
        n.shutdown().await;
    }
    Ok(())
}
