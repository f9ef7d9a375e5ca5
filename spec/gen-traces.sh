#!/usr/bin/env bash
# Rewrites the committed ITF traces of the Quint model (spec/traces/), which
# `cargo test -p goldfish-spec` replays through goldfish-core. Seeded: the
# same model gives the same traces (only the timestamps in #meta change).
# Together they take every action of the model's `step` (the replay test
# checks that). Run `npm ci` in spec/ first.
set -euo pipefail
cd "$(dirname "$0")"

gen() { # name seed step-relation steps
  npx quint run --backend typescript --mbt --seed "$2" --max-samples 1 --max-steps "$4" \
    --step "$3" --invariant safety --out-itf "traces/$1.itf.json" goldfish.qnt >/dev/null
  echo "traces/$1.itf.json"
}

rm -f traces/*.itf.json
mkdir -p traces
# name                          seed  step      steps
gen open-eviction               29    stepOpen  50
gen full-shutdown               16    step      50
gen open-retries                10    stepOpen  50
gen open-sessions               12    stepOpen  50
gen busy-refuse                 2     stepBusy  40
