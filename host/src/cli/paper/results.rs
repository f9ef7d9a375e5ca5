//! The results of `goldfish bench paper`: what the runner measures and the
//! report reads (JSON and CSV files, figures, the ratio table).

use serde::{Deserialize, Serialize};

/// The paper's workloads (section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Workload {
    /// (a) Sequential message exchange between two actors; x = messages (N).
    /// The paper's figure 7.
    Exchange,
    /// (b) Chained functions A -> B, sequential; x = input bytes. Figure 8.
    Chained,
    /// (c) The workflow ingest -> detect -> aggregate, sequential; x = input
    /// bytes. Figure 9.
    Workflow,
    /// (d) Chained functions with parallel clients; x = clients. Figure 10.
    FanoutChained,
    /// (d) The workflow with parallel clients; x = clients. Figure 11.
    FanoutWorkflow,
}

impl Workload {
    /// Every workload, in the paper's order.
    pub(crate) const ALL: [Workload; 5] = [
        Workload::Exchange,
        Workload::Chained,
        Workload::Workflow,
        Workload::FanoutChained,
        Workload::FanoutWorkflow,
    ];

    /// The name used in files and tables.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Workload::Exchange => "exchange",
            Workload::Chained => "chained",
            Workload::Workflow => "workflow",
            Workload::FanoutChained => "fanout-chained",
            Workload::FanoutWorkflow => "fanout-workflow",
        }
    }

    /// What x means for this workload.
    pub(crate) fn x_label(self) -> &'static str {
        match self {
            Workload::Exchange => "messages",
            Workload::Chained | Workload::Workflow => "input bytes",
            Workload::FanoutChained | Workload::FanoutWorkflow => "parallel clients",
        }
    }

    /// The paper's figure for this workload.
    pub(crate) fn figure(self) -> u8 {
        match self {
            Workload::Exchange => 7,
            Workload::Chained => 8,
            Workload::Workflow => 9,
            Workload::FanoutChained => 10,
            Workload::FanoutWorkflow => 11,
        }
    }
}

/// Where the functions run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Placement {
    /// One node in this process.
    OneProcess,
    /// Two nodes over QUIC with mutual TLS on loopback; the first function
    /// of a chain on one node, the rest on the other.
    TwoNodes,
}

impl Placement {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Placement::OneProcess => "one-process",
            Placement::TwoNodes => "two-nodes",
        }
    }
}

/// How the functions run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Mode {
    /// Warm actors that keep their state in memory.
    Goldfish,
    /// A new instance per message; state read from and written to Redis on
    /// every message, data between functions passed through Redis.
    Stateless,
}

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Goldfish => "goldfish",
            Mode::Stateless => "stateless",
        }
    }
}

/// One measured point: the median over the repetitions of each figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Row {
    pub workload: Workload,
    pub placement: Placement,
    pub mode: Mode,
    /// Messages (exchange), input bytes (chained, workflow) or parallel
    /// clients (fan-out).
    pub x: u64,
    /// Median latency of one request (end to end, every step of the chain).
    pub p50_us: f64,
    /// 99th percentile latency of one request.
    pub p99_us: f64,
    /// Requests completed per second.
    pub throughput: f64,
    /// Wall time of the whole point (for exchange: all N messages, the
    /// paper's figure 7 y axis).
    pub total_s: f64,
    /// Peak resident memory of this process during the point, MiB.
    pub peak_rss_mib: f64,
    /// Actor instances created during the point (all nodes).
    pub instances: f64,
    /// Requests measured (per repetition).
    pub requests: u64,
    /// Repetitions the medians are taken over.
    pub reps: u32,
}

/// The machine the figures were measured on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub os: String,
    pub redis: String,
}

/// A whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Results {
    /// When the run started (RFC 3339, UTC).
    pub started: String,
    /// Quick mode (CI): smaller sizes, fewer repetitions.
    pub quick: bool,
    pub machine: Machine,
    pub rows: Vec<Row>,
}
