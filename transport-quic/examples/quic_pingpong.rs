//! Latency and throughput of the QUIC transport on loopback: two nodes with
//! mutual TLS, `Ping` -> `Pong`.
//!
//! ```text
//! cargo run --release -p goldfish-transport-quic --example quic_pingpong [sequential] [total]
//! ```
//!
//! Prints the round-trip latency of sequential requests (p50, p99, mean) and
//! the rate with 64 requests in flight on the one connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use goldfish_core::transport::{BoxFuture, Service, Transport};
use goldfish_core::wire::Frame;
use goldfish_core::NodeId;
use goldfish_transport_quic::{certs, QuicTransport};

/// Answers every ping with a pong.
struct Pong;

impl Service for Pong {
    fn handle(&self, _from: NodeId, frame: Frame) -> BoxFuture<'_, Frame> {
        Box::pin(async move {
            match frame {
                Frame::Ping { nonce } => Frame::Pong { nonce },
                other => other,
            }
        })
    }
}

const IN_FLIGHT: u64 = 64;
const WARMUP: u64 = 500;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let sequential: u64 = args.next().map_or(Ok(10_000), |s| s.parse())?;
    let total: u64 = args.next().map_or(Ok(100_000), |s| s.parse())?;

    let cluster = certs::generate_in_memory(&["client", "server"])?;
    let [client, server] = ["client", "server"].map(|n| NodeId::new(n).expect("valid name"));
    let local = "127.0.0.1:0".parse()?;
    let tc = QuicTransport::bind(cluster.config(client, local).expect("in the set")).await?;
    let ts = QuicTransport::bind(cluster.config(server, local).expect("in the set")).await?;
    ts.serve(Arc::new(Pong));
    tc.set_address(server, &ts.local_addr().to_string());

    let connect = Instant::now();
    tc.request(server, Frame::Ping { nonce: 0 }).await?;
    let first = connect.elapsed();
    for nonce in 0..WARMUP {
        tc.request(server, Frame::Ping { nonce }).await?;
    }

    let mut times = Vec::with_capacity(sequential as usize);
    let start = Instant::now();
    for nonce in 0..sequential {
        let t = Instant::now();
        let answer = tc.request(server, Frame::Ping { nonce }).await?;
        times.push(t.elapsed());
        assert_eq!(answer, Frame::Pong { nonce });
    }
    let seq_elapsed = start.elapsed();
    times.sort();
    let mean = seq_elapsed / sequential.max(1) as u32;

    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..IN_FLIGHT {
        let tc = tc.clone();
        let n = total / IN_FLIGHT + u64::from(w < total % IN_FLIGHT);
        workers.spawn(async move {
            for i in 0..n {
                let nonce = w << 32 | i;
                let answer = tc.request(server, Frame::Ping { nonce }).await?;
                assert_eq!(answer, Frame::Pong { nonce });
            }
            Ok::<_, goldfish_core::transport::TransportError>(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    let par_elapsed = start.elapsed();

    let stats = tc.stats();
    println!("goldfish-transport-quic ping-pong on loopback (mutual TLS, ring, 1 connection)");
    println!(
        "first request (connect + TLS + Hello + ping): {:.0} us",
        us(first)
    );
    println!(
        "sequential, {sequential} requests: p50 {:.1} us, p99 {:.1} us, mean {:.1} us ({:.0} req/s)",
        us(percentile(&times, 0.50)),
        us(percentile(&times, 0.99)),
        us(mean),
        sequential as f64 / seq_elapsed.as_secs_f64(),
    );
    println!(
        "{IN_FLIGHT} in flight, {total} requests: {:.0} req/s ({:.2} s)",
        total as f64 / par_elapsed.as_secs_f64(),
        par_elapsed.as_secs_f64(),
    );
    println!(
        "client stats: {} connection(s) opened, {} requests, {} bytes sent, {} bytes received",
        stats.connections_opened, stats.requests_sent, stats.bytes_sent, stats.bytes_received
    );
    tc.close().await;
    ts.close().await;
    Ok(())
}
