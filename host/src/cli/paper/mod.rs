//! `goldfish bench paper`: the experiments of the paper's section 6, GoldFish
//! against a stateless baseline, side by side in one run.
//!
//! Both modes run the same guests on the same node code:
//!
//! * `goldfish`: warm actors that keep their state in memory;
//! * `stateless`: every function deployed `stateless = true` on nodes with a
//!   Redis state store, so each message gets a new wasmi instance whose state
//!   is read from Redis before it and written back after it: what a user of
//!   OpenFaaS or Spin does. Payloads between functions travel in messages in
//!   both modes (the baseline is not charged for passing data through Redis).
//!
//! The workloads (see [`results::Workload`]) run in one process and across
//! two nodes over QUIC with mutual TLS on loopback. Each point is repeated
//! and the medians are written as JSON and CSV, drawn as SVG figures in the
//! manner of the paper's figures 7 to 11, and summed up as a ratio table.

mod report;
mod results;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goldfish_core::wire::Outcome;
use goldfish_core::Target;
use goldfish_host::{guests, FunctionConfig, Node, RedisStateStore, StateStore};

use results::{Machine, Mode, Placement, Results, Row, Workload};

/// Options of `goldfish bench paper`.
#[derive(clap::Args)]
pub(crate) struct PaperArgs {
    /// Small sizes, one repetition, short fan-out runs (under 2 minutes; CI).
    #[arg(long)]
    quick: bool,
    /// Where the results, figures and ratio table go.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Repetitions per point (medians are reported; default 5, quick 1).
    #[arg(long)]
    reps: Option<u32>,
    /// The Redis of the stateless baseline.
    #[arg(
        long,
        env = "GOLDFISH_REDIS_URL",
        default_value = "redis://127.0.0.1:6379/"
    )]
    redis: String,
    /// Only these workloads (comma-separated: exchange, chained, workflow,
    /// fanout-chained, fanout-workflow).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Only these placements (comma-separated: one-process, two-nodes).
    #[arg(long, value_delimiter = ',')]
    placements: Vec<String>,
    /// Keep the stateless baseline's state in this process instead of Redis
    /// (to tell the cost of the store from the cost of a new instance).
    #[arg(long)]
    memory_store: bool,
    /// Measure nothing: redraw the figures and the ratio table into `--out`
    /// from a `results.json` written by an earlier run.
    #[arg(long, value_name = "RESULTS_JSON")]
    from: Option<PathBuf>,
    /// Seconds each fan-out point runs (default 2, quick 0.3).
    #[arg(long)]
    fanout_seconds: Option<f64>,
}

/// The sizes and counts of one run.
struct Plan {
    reps: u32,
    messages: Vec<u64>,
    sizes: Vec<u64>,
    clients: Vec<u64>,
    fanout: Duration,
    /// Sequential requests per size point: about this many bytes in all.
    bytes_per_point: u64,
}

impl Plan {
    fn new(a: &PaperArgs) -> Plan {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * KIB;
        let (reps, fanout) = if a.quick { (1, 0.3) } else { (5, 2.0) };
        Plan {
            reps: a.reps.unwrap_or(reps).max(1),
            messages: if a.quick {
                vec![10, 100, 1_000]
            } else {
                vec![10, 100, 1_000, 10_000]
            },
            sizes: if a.quick {
                vec![KIB, 64 * KIB, MIB]
            } else {
                vec![KIB, 16 * KIB, 256 * KIB, MIB, 4 * MIB, 16 * MIB]
            },
            clients: if a.quick {
                vec![1, 4, 16]
            } else {
                vec![1, 2, 4, 8, 16, 32, 64]
            },
            fanout: Duration::from_secs_f64(a.fanout_seconds.unwrap_or(fanout).max(0.05)),
            bytes_per_point: if a.quick { 8 * MIB } else { 64 * MIB },
        }
    }

    /// Sequential requests for one size point.
    fn requests(&self, size: u64) -> u64 {
        (self.bytes_per_point / size.max(1)).clamp(3, 200)
    }
}

/// The largest input: 16 MiB plus room for the command and labels.
const MAX_PAYLOAD: u32 = 16 * 1024 * 1024 + 64 * 1024;

fn config(mode: Mode) -> FunctionConfig {
    FunctionConfig {
        // Big inputs are parsed by interpreted guests: a generous budget.
        fuel: 200_000_000_000,
        memory_pages: 8192,
        max_payload: MAX_PAYLOAD,
        buffer_bytes: 1 << 30,
        // A caller that finds every instance busy gets a new one at once.
        max_wait_ms: 0,
        // Room for an actor per client and field: a function at its
        // instance limit makes a new key wait for an idle actor to time out.
        max_instances: 512,
        max_attempts: 1,
        timeout_ms: 120_000,
        stateless: mode == Mode::Stateless,
        ..FunctionConfig::default()
    }
}

/// The nodes of one (placement, mode): the client calls `entry`.
struct Setup {
    nodes: Vec<Node>,
}

impl Setup {
    async fn start(
        placement: Placement,
        mode: Mode,
        redis: &str,
        memory: bool,
    ) -> anyhow::Result<Setup> {
        // One memory store for both nodes, as they would share one Redis.
        let shared: Arc<dyn StateStore> = Arc::new(goldfish_host::MemStateStore::new());
        let store = || -> anyhow::Result<Option<Arc<dyn StateStore>>> {
            Ok(match mode {
                Mode::Goldfish => None,
                Mode::Stateless if memory => Some(shared.clone()),
                Mode::Stateless => Some(Arc::new(RedisStateStore::connect(redis)?)),
            })
        };
        let first = ["relay", "ingest"];
        let rest = ["echo", "counter", "detect", "aggregate"];
        let wasm =
            |name: &str| guests::by_name(name).ok_or_else(|| anyhow::anyhow!("no guest {name}"));
        let nodes = match placement {
            Placement::OneProcess => {
                let mut b = Node::builder().name("bench");
                if let Some(s) = store()? {
                    b = b.state_store(s);
                }
                let node = b.build()?;
                for f in first.iter().chain(&rest) {
                    node.deploy(f, wasm(f)?, config(mode))?;
                }
                vec![node]
            }
            Placement::TwoNodes => {
                use goldfish_transport_quic::{certs, QuicTransport};
                let certs = certs::generate_in_memory(&["edge", "cloud"])?;
                let registry = Arc::new(goldfish_host::MemRegistry::new());
                let mut nodes = vec![];
                for (name, functions) in [("edge", &first[..]), ("cloud", &rest[..])] {
                    let id = goldfish_core::NodeId::new(name)?;
                    let tc = certs
                        .config(id, "127.0.0.1:0".parse()?)
                        .ok_or_else(|| anyhow::anyhow!("no certificate for {name}"))?;
                    let t = QuicTransport::bind(tc).await?;
                    let mut b = Node::builder()
                        .name(name)
                        .address(t.local_addr().to_string())
                        .transport(Arc::new(t))
                        .registry(registry.clone());
                    if let Some(s) = store()? {
                        b = b.state_store(s);
                    }
                    let node = b.build()?;
                    for f in functions {
                        node.deploy(f, wasm(f)?, config(mode))?;
                    }
                    nodes.push(node);
                }
                for _ in 0..2 {
                    for n in &nodes {
                        n.announce().await?;
                    }
                }
                nodes
            }
        };
        Ok(Setup { nodes })
    }

    fn entry(&self) -> &Node {
        &self.nodes[0]
    }

    /// Instances created so far, on every node.
    fn instances(&self) -> u64 {
        let mut n = 0;
        for node in &self.nodes {
            for f in ["relay", "ingest", "echo", "counter", "detect", "aggregate"] {
                n += node.stats(f).map_or(0, |s| s.spawned);
            }
        }
        n
    }

    async fn stop(self) {
        for n in &self.nodes {
            n.shutdown().await;
        }
    }
}

/// What one request of a workload sends, to which target.
fn request(workload: Workload, x: u64, client: u64, rep: u32) -> anyhow::Result<(Target, Vec<u8>)> {
    Ok(match workload {
        Workload::Exchange => (
            Target::parse("relay")?,
            format!("call counter/ex{rep}x{client} m").into_bytes(),
        ),
        Workload::Chained | Workload::FanoutChained => {
            // Fan-out measures parallel clients, not data: a small message.
            let size = if workload == Workload::Chained { x } else { 64 };
            let mut p = b"call echo ".to_vec();
            p.resize(p.len() + size as usize, b'x');
            (Target::parse("relay")?, p)
        }
        Workload::Workflow | Workload::FanoutWorkflow => {
            // A humid reading; for the size sweep padded to the input size
            // (ingest ignores keys it does not know; the padding travels on
            // to detect). Fan-out sends the bare reading (about 70 bytes).
            let mut p = format!("field=f{client},sensor=s1,t=21.5,h=91.0,m=0.42,ts=1700000000000")
                .into_bytes();
            if workload == Workload::Workflow {
                p.extend_from_slice(b",pad=");
                let target_len = (x as usize).max(p.len() + 1);
                p.resize(target_len, b'p');
            }
            (Target::parse("ingest")?, p)
        }
    })
}

/// Checks a reply is what the workload's last step answers.
fn check(workload: Workload, out: &Outcome) -> anyhow::Result<()> {
    let Outcome::Reply(p) = out else {
        anyhow::bail!("{} got {out:?}", workload.as_str());
    };
    let ok = match workload {
        Workload::Exchange => p.0.starts_with(b"ok:"),
        Workload::Chained | Workload::FanoutChained => p.0.starts_with(b"ok:x"),
        Workload::Workflow | Workload::FanoutWorkflow => p.0.starts_with(b"field="),
    };
    anyhow::ensure!(
        ok,
        "{}: unexpected reply {:?}",
        workload.as_str(),
        String::from_utf8_lossy(&p.0[..p.0.len().min(80)])
    );
    Ok(())
}

/// One repetition's figures.
struct Sample {
    p50_us: f64,
    p99_us: f64,
    throughput: f64,
    total_s: f64,
    peak_rss_mib: f64,
    instances: f64,
    requests: u64,
}

fn pct(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e6
}

/// Peak RSS is per point: `clear_refs` resets the high-water mark.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs one point once.
async fn sample(
    setup: &Setup,
    workload: Workload,
    x: u64,
    rep: u32,
    plan: &Plan,
) -> anyhow::Result<Sample> {
    let node = setup.entry().clone();
    // Warm-up: the first requests of a point (both modes) are not measured.
    let warm_x = match workload {
        Workload::Chained | Workload::Workflow => x.min(1024),
        _ => x,
    };
    let (t, p) = request(workload, warm_x, 0, rep)?;
    for _ in 0..5 {
        check(workload, &node.invoke(t, p.clone()).await)?;
    }
    let before = setup.instances();
    reset_peak_rss();
    let (mut lat, elapsed) = match workload {
        Workload::Exchange | Workload::Chained | Workload::Workflow => {
            let n = match workload {
                Workload::Exchange => x,
                _ => plan.requests(x),
            };
            let (target, payload) = request(workload, x, 0, rep)?;
            let mut lat = Vec::with_capacity(n as usize);
            let t0 = Instant::now();
            for _ in 0..n {
                let t = Instant::now();
                let out = node.invoke(target, payload.clone()).await;
                lat.push(t.elapsed());
                check(workload, &out)?;
            }
            (lat, t0.elapsed())
        }
        Workload::FanoutChained | Workload::FanoutWorkflow => {
            let stop = Arc::new(AtomicBool::new(false));
            let t0 = Instant::now();
            let mut tasks = vec![];
            for c in 0..x {
                let (node, stop) = (node.clone(), stop.clone());
                let (target, payload) = request(workload, 0, c + 1, rep)?;
                tasks.push(tokio::spawn(async move {
                    let mut lat = vec![];
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let out = node.invoke(target, payload.clone()).await;
                        lat.push(t.elapsed());
                        check(workload, &out)?;
                    }
                    anyhow::Ok(lat)
                }));
            }
            tokio::time::sleep(plan.fanout).await;
            stop.store(true, Ordering::Relaxed);
            let mut lat = vec![];
            for t in tasks {
                lat.extend(t.await??);
            }
            (lat, t0.elapsed())
        }
    };
    lat.sort();
    let requests = lat.len() as u64;
    Ok(Sample {
        p50_us: pct(&lat, 0.5),
        p99_us: pct(&lat, 0.99),
        throughput: requests as f64 / elapsed.as_secs_f64(),
        total_s: elapsed.as_secs_f64(),
        peak_rss_mib: peak_rss_mib(),
        instances: (setup.instances() - before) as f64,
        requests,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn row(workload: Workload, placement: Placement, mode: Mode, x: u64, s: &[Sample]) -> Row {
    let m = |f: fn(&Sample) -> f64| median(s.iter().map(f).collect());
    Row {
        workload,
        placement,
        mode,
        x,
        p50_us: m(|s| s.p50_us),
        p99_us: m(|s| s.p99_us),
        throughput: m(|s| s.throughput),
        total_s: m(|s| s.total_s),
        peak_rss_mib: m(|s| s.peak_rss_mib),
        instances: m(|s| s.instances),
        requests: s.iter().map(|s| s.requests).min().unwrap_or(0),
        reps: s.len() as u32,
    }
}

fn parse_list<T: Copy>(
    given: &[String],
    all: &[T],
    name: fn(T) -> &'static str,
    what: &str,
) -> anyhow::Result<Vec<T>> {
    if given.is_empty() {
        return Ok(all.to_vec());
    }
    given
        .iter()
        .map(|g| {
            all.iter()
                .copied()
                .find(|w| name(*w) == g.trim())
                .ok_or_else(|| {
                    let names: Vec<_> = all.iter().map(|w| name(*w)).collect();
                    anyhow::anyhow!("unknown {what} {g:?} (one of: {})", names.join(", "))
                })
        })
        .collect()
}

pub(crate) async fn run(args: PaperArgs) -> anyhow::Result<()> {
    if let Some(from) = &args.from {
        let text = std::fs::read_to_string(from)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", from.display()))?;
        let results: Results = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not a results file: {e}", from.display()))?;
        let written = report::write_all(&results, &args.out)?;
        println!("{}", report::ratio_table(&results));
        for p in written {
            println!("  {}", p.display());
        }
        return Ok(());
    }
    let workloads = parse_list(
        &args.workloads,
        &Workload::ALL,
        Workload::as_str,
        "workload",
    )?;
    let placements = parse_list(
        &args.placements,
        &[Placement::OneProcess, Placement::TwoNodes],
        Placement::as_str,
        "placement",
    )?;
    let plan = Plan::new(&args);
    let redis_version = redis_version(&args.redis).map_err(|e| {
        anyhow::anyhow!(
            "the stateless baseline needs Redis at {}: {e} (start one, e.g. `redis-server --port 6379`, or pass --redis)",
            args.redis
        )
    })?;
    let machine = machine(redis_version);
    println!(
        "paper experiments: goldfish (warm actors) vs stateless (instance per message, state in Redis {}), {} rep(s) per point{}",
        machine.redis,
        plan.reps,
        if args.quick { ", quick mode" } else { "" }
    );
    println!(
        "machine: {}, {} cores, {:.1} GiB, {}",
        machine.cpu, machine.cores, machine.memory_gib, machine.os
    );
    let started = now_rfc3339();
    let t0 = Instant::now();
    let mut rows = vec![];
    for &placement in &placements {
        for mode in [Mode::Goldfish, Mode::Stateless] {
            let setup = Setup::start(placement, mode, &args.redis, args.memory_store).await?;
            // Small messages first, the big inputs last: the allocator keeps
            // what a 16 MiB point took, which would show in the peak RSS of
            // every point after it.
            let mut order = workloads.clone();
            order.sort_by_key(|w| matches!(w, Workload::Chained | Workload::Workflow));
            for &workload in &order {
                // Each workload starts from empty state in both modes' stores
                // (a warm actor's memory is its own business).
                if mode == Mode::Stateless && !args.memory_store {
                    clear_state(&args.redis)?;
                }
                let xs = match workload {
                    Workload::Exchange => &plan.messages,
                    Workload::Chained | Workload::Workflow => &plan.sizes,
                    Workload::FanoutChained | Workload::FanoutWorkflow => &plan.clients,
                };
                for &x in xs {
                    let mut samples = vec![];
                    for rep in 0..plan.reps {
                        samples.push(sample(&setup, workload, x, rep, &plan).await.map_err(
                            |e| {
                                anyhow::anyhow!(
                                    "{} {} {} x={x}: {e}",
                                    workload.as_str(),
                                    placement.as_str(),
                                    mode.as_str()
                                )
                            },
                        )?);
                    }
                    let r = row(workload, placement, mode, x, &samples);
                    println!(
                        "  {:<16} {:<12} {:<10} {:>9} {:<16} p50 {:>10.1} us  p99 {:>10.1} us  {:>9.1} req/s  total {:>7.3} s  rss {:>6.1} MiB  instances {:>6}",
                        workload.as_str(),
                        placement.as_str(),
                        mode.as_str(),
                        x,
                        workload.x_label(),
                        r.p50_us,
                        r.p99_us,
                        r.throughput,
                        r.total_s,
                        r.peak_rss_mib,
                        r.instances
                    );
                    rows.push(r);
                }
            }
            setup.stop().await;
        }
    }
    let results = Results {
        started,
        quick: args.quick,
        machine,
        rows,
    };
    let written = report::write_all(&results, &args.out)?;
    println!("\n{}", report::ratio_table(&results));
    println!("done in {:.0} s; wrote:", t0.elapsed().as_secs_f64());
    for p in written {
        println!("  {}", p.display());
    }
    Ok(())
}

/// Deletes the stateless baseline's state (`gf:state:*`) from Redis.
fn clear_state(url: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(url)?;
    let mut c = client.get_connection_with_timeout(Duration::from_secs(2))?;
    let keys: Vec<String> = redis::cmd("KEYS").arg("gf:state:*").query(&mut c)?;
    if !keys.is_empty() {
        redis::cmd("DEL").arg(&keys).query::<()>(&mut c)?;
    }
    Ok(())
}

fn redis_version(url: &str) -> anyhow::Result<String> {
    let client = redis::Client::open(url)?;
    let mut c = client.get_connection_with_timeout(Duration::from_secs(2))?;
    let info: String = redis::cmd("INFO").arg("server").query(&mut c)?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .map_or_else(|| "unknown".into(), |v| v.trim().to_string()))
}

fn machine(redis: String) -> Machine {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let memory_gib = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map_or_else(
            || std::env::consts::OS.to_string(),
            |v| v.trim_matches('"').to_string(),
        );
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_gib,
        os,
        redis,
    }
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = goldfish_transport_quic::certs::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        let d: Vec<_> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(pct(&d, 0.5), 50.0);
        assert_eq!(pct(&d, 0.99), 99.0);
    }

    #[test]
    fn requests_are_what_the_guests_expect() {
        let (t, p) = request(Workload::Chained, 4096, 0, 0).unwrap();
        assert_eq!(t, Target::parse("relay").unwrap());
        assert_eq!(p.len(), "call echo ".len() + 4096);
        let (t, p) = request(Workload::Workflow, 4096, 3, 1).unwrap();
        assert_eq!(t, Target::parse("ingest").unwrap());
        assert_eq!(p.len(), 4096);
        assert!(p.starts_with(b"field=f3,"));
        let list = parse_list(
            &["chained".into()],
            &Workload::ALL,
            Workload::as_str,
            "workload",
        );
        assert_eq!(list.unwrap(), vec![Workload::Chained]);
        assert!(parse_list(
            &["nope".into()],
            &Workload::ALL,
            Workload::as_str,
            "workload"
        )
        .is_err());
    }

    #[test]
    fn dates_are_rfc3339() {
        let s = now_rfc3339();
        assert_eq!(s.len(), 20, "{s}");
        assert!(s.starts_with("20") && s.ends_with('Z'), "{s}");
    }
}
