#!/usr/bin/env bash
# HTTP load run: wrk against POST /functions/echo on a local node.
#   examples/load/run.sh [seconds] [connections] [wrk threads]
# Needs wrk (apt install wrk) and a release build of goldfish.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}; conns=${2:-64}; threads=${3:-1}
bin=target/release/goldfish
[ -x "$bin" ] || cargo build --release -p goldfish-host
command -v wrk >/dev/null || { echo "wrk not found: apt install wrk" >&2; exit 1; }
"$bin" serve --config examples/load/node.toml > /tmp/goldfish-load.log 2>&1 &
node=$!
trap 'kill -TERM $node 2>/dev/null; wait $node 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:18090/healthz >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf -X POST http://127.0.0.1:18090/functions/echo -d warm >/dev/null
echo "wrk -t$threads -c$conns -d${secs}s --latency POST /functions/echo ($(nproc) cores shared by wrk and the node)"
wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s examples/load/post.lua http://127.0.0.1:18090/functions/echo
curl -s http://127.0.0.1:18090/metrics | grep -E '^goldfish_(invocations_total\{function="echo",outcome="reply"\}|live_actors\{function="echo"\})'
