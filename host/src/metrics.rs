//! `/metrics`: the node's counters in Prometheus text format, encoded by the
//! `prometheus-client` crate from the live counters the dispatcher keeps (so
//! the hot path pays for relaxed atomic adds only, never for a label lookup).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `goldfish_invocations_total` | counter | `function`, `outcome` (reply, failed, rejected, expired) |
//! | `goldfish_queue_depth` | gauge | `function`: messages waiting in the buffer |
//! | `goldfish_live_actors` | gauge | `function` |
//! | `goldfish_activations_total` | counter | `function`: actors created |
//! | `goldfish_terminations_total` | counter | `function`, `cause` (idle, stopped, fault, shutdown, evicted) |
//! | `goldfish_faults_total` | counter | `function`, `kind` (trap, out_of_fuel, out_of_memory) |
//! | `goldfish_forwarded_total` | counter | `function`: messages sent to another node |
//! | `goldfish_fuel_used_total` | counter | `function` |
//! | `goldfish_wait_seconds` | histogram | `function`: acceptance to the start of a run |
//! | `goldfish_run_seconds` | histogram | `function`: time in the guest per run, calls excluded |
//! | `goldfish_transport_bytes_total` | counter | `direction` (sent, received) |
//! | `goldfish_peers` | gauge | other nodes in the cluster view |
//! | `goldfish_http_requests_total` | counter | `status` (1xx .. 5xx) |

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::dispatcher::Function;
use crate::node::NodeInner;
use crate::stats::{FunctionStats, Histogram};

/// HTTP responses by status class, counted by the ingress.
#[derive(Debug, Default)]
pub(crate) struct HttpCounters {
    by_class: [AtomicU64; 5],
}

impl HttpCounters {
    pub(crate) fn count(&self, status: u16) {
        let i = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[i].fetch_add(1, Relaxed);
    }
}

/// Reads the node's counters at each scrape.
#[derive(Debug)]
struct NodeCollector {
    node: Weak<NodeInner>,
    http: Arc<HttpCounters>,
}

type Labels = Vec<(&'static str, String)>;

/// A value encoded once per label set.
enum Value<'a> {
    Counter(u64),
    Gauge(i64),
    Histogram(&'a Histogram),
}

impl std::fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Value")
    }
}

impl EncodeMetric for Value<'_> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        match self {
            Value::Counter(v) => encoder.encode_counter::<NoLabelSet, _, u64>(v, None),
            Value::Gauge(v) => encoder.encode_gauge(v),
            Value::Histogram(h) => {
                let (sum, count, buckets) = h.buckets();
                encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
            }
        }
    }

    fn metric_type(&self) -> MetricType {
        match self {
            Value::Counter(_) => MetricType::Counter,
            Value::Gauge(_) => MetricType::Gauge,
            Value::Histogram(_) => MetricType::Histogram,
        }
    }
}

fn family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: &[(Labels, Value<'_>)],
) -> Result<(), std::fmt::Error> {
    let mut m = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in rows {
        value.encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn func(name: &str) -> Labels {
    vec![("function", name.to_string())]
}

fn with(mut l: Labels, k: &'static str, v: &str) -> Labels {
    l.push((k, v.to_string()));
    l
}

/// One function's numbers at a scrape.
struct Snap {
    name: String,
    stats: FunctionStats,
    waiting: u32,
    live: u32,
    function: Arc<Function>,
}

impl Collector for NodeCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(node) = self.node.upgrade() else {
            return Ok(());
        };
        let mut fs: Vec<Arc<Function>> = node
            .functions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        fs.sort_by_key(|f| f.name);
        let snaps: Vec<Snap> = fs
            .into_iter()
            .map(|function| {
                let (waiting, live) = function.depth();
                Snap {
                    name: function.name.to_string(),
                    stats: function.stats.snapshot(),
                    waiting,
                    live,
                    function,
                }
            })
            .collect();
        let mut inv = vec![];
        let mut terms = vec![];
        let mut faults = vec![];
        for sn in &snaps {
            let s = &sn.stats;
            for (o, v) in [
                ("reply", s.replied),
                ("failed", s.failed),
                ("rejected", s.rejected),
                ("expired", s.expired),
            ] {
                inv.push((with(func(&sn.name), "outcome", o), Value::Counter(v)));
            }
            for (c, v) in [
                ("idle", s.terminated_idle),
                ("stopped", s.terminated_stopped),
                ("fault", s.terminated_fault),
                ("shutdown", s.terminated_shutdown),
                ("evicted", s.terminated_evicted),
            ] {
                terms.push((with(func(&sn.name), "cause", c), Value::Counter(v)));
            }
            for (k, v) in [
                ("trap", s.traps),
                ("out_of_fuel", s.out_of_fuel),
                ("out_of_memory", s.out_of_memory),
            ] {
                faults.push((with(func(&sn.name), "kind", k), Value::Counter(v)));
            }
        }
        let per = |pick: &dyn Fn(&Snap) -> Value<'static>| -> Vec<(Labels, Value<'static>)> {
            snaps.iter().map(|s| (func(&s.name), pick(s))).collect()
        };
        family(
            &mut e,
            "goldfish_invocations",
            "Messages by how they ended",
            MetricType::Counter,
            &inv,
        )?;
        family(
            &mut e,
            "goldfish_queue_depth",
            "Messages waiting in the buffer",
            MetricType::Gauge,
            &per(&|s| Value::Gauge(i64::from(s.waiting))),
        )?;
        family(
            &mut e,
            "goldfish_live_actors",
            "Live actors",
            MetricType::Gauge,
            &per(&|s| Value::Gauge(i64::from(s.live))),
        )?;
        family(
            &mut e,
            "goldfish_activations",
            "Actors created",
            MetricType::Counter,
            &per(&|s| Value::Counter(s.stats.spawned)),
        )?;
        family(
            &mut e,
            "goldfish_terminations",
            "Actors terminated, by cause",
            MetricType::Counter,
            &terms,
        )?;
        family(
            &mut e,
            "goldfish_faults",
            "Runs that failed, by kind",
            MetricType::Counter,
            &faults,
        )?;
        family(
            &mut e,
            "goldfish_forwarded",
            "Messages forwarded to another node",
            MetricType::Counter,
            &per(&|s| Value::Counter(s.stats.forwarded)),
        )?;
        family(
            &mut e,
            "goldfish_fuel_used",
            "Fuel used by guests",
            MetricType::Counter,
            &per(&|s| Value::Counter(s.stats.fuel)),
        )?;
        let waits: Vec<(Labels, Value<'_>)> = snaps
            .iter()
            .map(|s| (func(&s.name), Value::Histogram(&s.function.stats.wait)))
            .collect();
        family(
            &mut e,
            "goldfish_wait_seconds",
            "Time from acceptance to the start of a run",
            MetricType::Histogram,
            &waits,
        )?;
        let runs: Vec<(Labels, Value<'_>)> = snaps
            .iter()
            .map(|s| (func(&s.name), Value::Histogram(&s.function.stats.run)))
            .collect();
        family(
            &mut e,
            "goldfish_run_seconds",
            "Time in the guest per run, calls excluded",
            MetricType::Histogram,
            &runs,
        )?;
        let t = node
            .transport
            .as_ref()
            .map(|t| t.stats())
            .unwrap_or_default();
        family(
            &mut e,
            "goldfish_transport_bytes",
            "Bytes carried to and from other nodes",
            MetricType::Counter,
            &[
                (
                    vec![("direction", "sent".into())],
                    Value::Counter(t.bytes_sent),
                ),
                (
                    vec![("direction", "received".into())],
                    Value::Counter(t.bytes_received),
                ),
            ],
        )?;
        let peers = node
            .membership
            .functions()
            .into_iter()
            .flat_map(|(_, ns)| ns)
            .filter(|n| *n != node.name)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        family(
            &mut e,
            "goldfish_peers",
            "Other nodes in the cluster view",
            MetricType::Gauge,
            &[(
                vec![],
                Value::Gauge(i64::try_from(peers).unwrap_or(i64::MAX)),
            )],
        )?;
        let http: Vec<(Labels, Value<'_>)> = (1..=5)
            .map(|c| {
                (
                    vec![("status", format!("{c}xx"))],
                    Value::Counter(self.http.by_class[c - 1].load(Relaxed)),
                )
            })
            .collect();
        family(
            &mut e,
            "goldfish_http_requests",
            "HTTP responses by status class",
            MetricType::Counter,
            &http,
        )?;
        Ok(())
    }
}

/// The node's metrics, ready to encode.
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) http: Arc<HttpCounters>,
}

impl Metrics {
    pub(crate) fn new(node: &Arc<NodeInner>) -> Metrics {
        let http = Arc::new(HttpCounters::default());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(NodeCollector {
            node: Arc::downgrade(node),
            http: http.clone(),
        }));
        Metrics { registry, http }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        out
    }
}
