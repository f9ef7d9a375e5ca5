//! `goldfish demo`: the paper's smart-agriculture workflow (ingest -> detect
//! -> aggregate) on an embedded node, with generated sensor readings.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use goldfish_core::wire::Outcome;
use goldfish_core::Target;
use goldfish_host::{guests, FunctionConfig, Node};

/// Options of `goldfish demo`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Sensor readings to stream through the workflow.
    #[arg(long, default_value_t = 600)]
    readings: usize,
    /// Fields (one `detect` and one `aggregate` actor each); three sensors per field.
    #[arg(long, default_value_t = 4)]
    fields: u32,
    /// Readings in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Idle time of the actors, in milliseconds (the demo waits it out at the end).
    #[arg(long, default_value_t = 1500)]
    idle_ms: u64,
    /// Seed of the generated readings.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Run the demo on a node started from this configuration file (it joins
    /// its cluster and deploys the functions the file lists; the workflow's
    /// other functions must run on other nodes). Without it, one embedded node
    /// runs all three.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

const WORKFLOW: [&str; 3] = ["ingest", "detect", "aggregate"];

/// Starts the node from `path` and waits until the cluster runs the workflow.
async fn cluster_node(path: &std::path::Path) -> anyhow::Result<Node> {
    let config = goldfish_host::node_config::NodeConfig::from_file(path)?;
    let node = config
        .start()
        .await
        .with_context(|| format!("starting node `{}`", config.name))?;
    let t0 = Instant::now();
    loop {
        node.announce().await?;
        let cluster = node.cluster();
        let missing: Vec<&str> = WORKFLOW
            .iter()
            .copied()
            .filter(|f| !cluster.iter().any(|(name, _)| name.as_str() == *f))
            .collect();
        if missing.is_empty() {
            for (f, nodes) in cluster {
                let nodes: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
                println!("  {f} runs on {}", nodes.join(", "));
            }
            return Ok(node);
        }
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(60),
            "no node in the cluster runs {}: start the other node(s) first",
            missing.join(", ")
        );
        println!("waiting for a node that runs {} ...", missing.join(", "));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [-1, 1).
    fn noise(&mut self) -> f64 {
        self.unit() * 2.0 - 1.0
    }
}

/// Readings in the format `ingest` parses. Field 2 turns humid and wet a
/// third of the way through (disease weather); a few readings are broken or
/// jump, as real sensors do.
fn readings(n: usize, fields: u32, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed.max(1));
    let start = 1_700_000_000_000u64;
    (0..n)
        .map(|i| {
            let field = 1 + (i as u32 % fields);
            let sensor = format!("f{field}s{}", (i / fields as usize) % 3);
            let progress = i as f64 / n.max(1) as f64;
            let disease = field == 2 && progress > 0.33;
            let (mut t, h, m) = if disease {
                (
                    22.0 + 2.0 * rng.noise(),
                    91.0 + 4.0 * rng.noise(),
                    0.45 + 0.04 * rng.noise(),
                )
            } else {
                (
                    21.0 + 4.0 * rng.noise(),
                    62.0 + 10.0 * rng.noise(),
                    0.25 + 0.05 * rng.noise(),
                )
            };
            let ts = start + i as u64 * 1_000;
            let roll = rng.unit();
            if roll < 0.02 {
                // A broken sensor: humidity out of range.
                return format!("field={field},sensor={sensor},t={t:.1},h=140.0,m={m:.2},ts={ts}");
            }
            if roll < 0.03 {
                // A jump: the reading is labelled suspect.
                t += 15.0;
            }
            format!(
                "field={field},sensor={sensor},t={t:.1},h={:.1},m={m:.2},ts={ts}",
                h.clamp(0.0, 100.0)
            )
        })
        .collect()
}

fn value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(',').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
    })
}

fn ms(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} us", d.as_micros())
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.fields > 0, "--fields must be at least 1");
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let node = match &args.config {
        Some(path) => {
            println!("GoldFish demo: the smart-agriculture workflow ingest -> detect -> aggregate across a cluster\n");
            let node = cluster_node(path).await?;
            println!("this node: {}", node.name());
            node
        }
        None => {
            println!("GoldFish demo: the smart-agriculture workflow ingest -> detect -> aggregate on one node\n");
            let node = Node::builder().name("demo").build()?;
            let config = FunctionConfig {
                idle_ms: args.idle_ms,
                ..FunctionConfig::default()
            };
            for (name, wasm) in [
                ("ingest", guests::INGEST),
                ("detect", guests::DETECT),
                ("aggregate", guests::AGGREGATE),
            ] {
                node.deploy(name, wasm, config.clone())
                    .with_context(|| format!("deploying {name}"))?;
            }
            println!(
                "deployed ingest (anycast), detect and aggregate (one actor per field); idle time {} ms",
                args.idle_ms
            );
            node
        }
    };
    let readings = Arc::new(readings(args.readings, args.fields, args.seed));
    println!(
        "streaming {} readings from {} fields ({} sensors), {} in flight ...\n",
        readings.len(),
        args.fields,
        args.fields * 3,
        args.concurrency
    );

    let next = Arc::new(AtomicUsize::new(0));
    let results: Arc<Mutex<Vec<(usize, Duration, Outcome)>>> = Arc::new(Mutex::new(Vec::new()));
    let ingest = Target::parse("ingest")?;
    let progress = indicatif::ProgressBar::new(readings.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("  {bar:40} {pos}/{len} readings {per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (node, readings, next, results, progress) = (
                node.clone(),
                readings.clone(),
                next.clone(),
                results.clone(),
                progress.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(r) = readings.get(i) else { return };
                    let t = Instant::now();
                    let out = node.invoke(ingest, r.clone().into_bytes()).await;
                    let took = t.elapsed();
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((i, took, out));
                    progress.inc(1);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    let mut results = std::mem::take(
        &mut *results
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    results.sort_by_key(|(i, _, _)| *i);

    // What the workflow said.
    let mut first_alert: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut alerts: BTreeMap<String, usize> = BTreeMap::new();
    let (mut dropped, mut failed) = (0, 0);
    for (i, _, out) in &results {
        let line = match out {
            Outcome::Reply(p) => String::from_utf8_lossy(&p.0).into_owned(),
            other => {
                failed += 1;
                if failed <= 3 {
                    println!("  reading {i}: {other:?}");
                }
                continue;
            }
        };
        if line.starts_with("dropped:") {
            dropped += 1;
            continue;
        }
        if readings[*i].contains("t=") && value(&line, "risk").is_none() {
            failed += 1;
            continue;
        }
        if let Some(field) = value(&line, "field") {
            if value(&line, "alert") == Some("1") {
                *alerts.entry(field.to_string()).or_default() += 1;
                first_alert
                    .entry(field.to_string())
                    .or_insert((*i, line.clone()));
            }
        }
    }
    println!("alerts");
    if first_alert.is_empty() {
        println!("  none");
    }
    for (field, (i, line)) in &first_alert {
        println!("  field {field}: first alert at reading {i}: {line}");
        println!("  field {field}: {} alert summaries in all", alerts[field]);
    }
    println!("\ndropped by ingest as invalid: {dropped}   failed: {failed}\n");

    println!("actors        created   messages   given to a warm actor   (on this node)");
    for f in WORKFLOW {
        match node.stats(f) {
            Some(s) => println!(
                "  {f:<10} {:>8} {:>10} {:>12}",
                s.spawned,
                s.runs,
                s.reused()
            ),
            None => println!("  {f:<10} runs on another node"),
        }
    }
    println!("\nlive actors now");
    for a in node.actors() {
        let idle = a
            .idle_for
            .map_or(String::new(), |d| format!("idle {}", ms(d)));
        let mem = a
            .memory_bytes
            .map_or(String::new(), |b| format!("{} KiB memory", b / 1024));
        println!(
            "  {:<14} {:<10} {:<13} {:>5} messages  {mem}",
            a.id.to_string(),
            a.phase.as_str(),
            idle,
            a.messages
        );
    }
    println!("\nlatency per step (time in the guest, calls excluded)   p50        p99");
    for f in WORKFLOW {
        match node.stats(f) {
            Some(s) => println!("  {f:<50} {:>10} {:>10}", ms(s.run.p50), ms(s.run.p99)),
            None => println!("  {f:<50} (another node)"),
        }
    }
    let mut lat: Vec<Duration> = results.iter().map(|(_, d, _)| *d).collect();
    lat.sort();
    println!(
        "  end to end (ingest -> detect -> aggregate -> reply)  {:>10} {:>10}",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    println!(
        "\nthroughput: {:.0} readings/s ({} readings in {})",
        results.len() as f64 / elapsed.as_secs_f64(),
        results.len(),
        ms(elapsed)
    );

    let wait = Duration::from_millis(args.idle_ms) + Duration::from_millis(300);
    println!("\nno traffic for {} ...", ms(wait));
    tokio::time::sleep(wait).await;
    let live = node.actors();
    let terminated: u64 = WORKFLOW
        .iter()
        .map(|f| node.stats(f).unwrap_or_default().terminated_idle)
        .sum();
    println!(
        "live actors: {} ({} terminated after their idle time: scale to zero, memory released)",
        live.len(),
        terminated
    );
    node.shutdown().await;
    anyhow::ensure!(failed == 0, "{failed} readings did not get a reply");
    Ok(())
}
