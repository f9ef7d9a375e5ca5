#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time; fails if any
# target crashes (a panic, a violated property, a sanitizer report, a hang
# or an out-of-memory). This is what CI calls:
#
#   bash fuzz/run.sh
#
# Environment:
#   FUZZ_TIME      seconds per target (default 20)
#   FUZZ_TARGETS   space-separated targets (default: every one)
#   CARGO_BUILD_JOBS  build jobs (cargo's own variable)
#
# Each run starts from the committed seeds (corpus/<target>/) and the
# regression inputs (regressions/<target>/), which libFuzzer runs first; new
# inputs go to a scratch directory, so the committed corpus is not touched.
# A crashing input is saved under fuzz/artifacts/<target>/.
set -uo pipefail

cd "$(dirname "$0")"
FUZZ_TIME="${FUZZ_TIME:-20}"
ALL_TARGETS="frame_decode core_events wasm_deploy abi_calls"
FUZZ_TARGETS="${FUZZ_TARGETS:-$ALL_TARGETS}"

log() { printf '==> %s\n' "$*"; }

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    cargo install cargo-fuzz --locked || cargo install cargo-fuzz || exit 1
fi

start=$(date +%s)
log "building the fuzz targets ($(cargo +nightly fuzz --version))"
# The defaults: release, debug assertions and overflow checks, AddressSanitizer.
if ! cargo +nightly fuzz build; then
    echo "fuzz/run.sh: build failed" >&2
    exit 1
fi
built=$(date +%s)
log "built in $((built - start)) s"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

declare -A execs
declare -A rate
declare -A status
failed=0
for t in $FUZZ_TARGETS; do
    mkdir -p "$scratch/$t" "regressions/$t"
    flags=(
        "-max_total_time=$FUZZ_TIME"
        -print_final_stats=1
        # One input running this long is a hang.
        -timeout=60
    )
    case "$t" in
    wasm_deploy | abi_calls)
        # The node caches compiled modules on purpose; a leak check after
        # every input would only rescan that heap (10x slower, no finding).
        flags+=(-detect_leaks=0)
        ;;
    esac
    log "fuzzing $t for $FUZZ_TIME s"
    out="$scratch/$t.log"
    cargo +nightly fuzz run "$t" "$scratch/$t" "corpus/$t" "regressions/$t" -- "${flags[@]}" >"$out" 2>&1
    rc=$?
    execs[$t]=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
    rate[$t]=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out" | tail -1)
    if [ "$rc" -eq 0 ]; then
        status[$t]=ok
        grep -E '^#[0-9]+[[:space:]]+DONE' "$out" | tail -1
    else
        status[$t]="CRASH (exit $rc)"
        failed=1
        # The report: the panic or sanitizer message, then the input.
        grep -E -A6 'panicked at|==ERROR|ERROR: libFuzzer|^SUMMARY' "$out" | head -60
        echo '...'
        grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|RELOAD)' "$out" |
            sed -n '/^Failing input:/,/^Minimize/p'
        ls -1 "artifacts/$t" 2>/dev/null | sed "s|^|    artifact: fuzz/artifacts/$t/|"
    fi
done

end=$(date +%s)
echo
printf '%-14s %12s %10s  %s\n' target executions exec/s result
for t in $FUZZ_TARGETS; do
    printf '%-14s %12s %10s  %s\n' "$t" "${execs[$t]:-?}" "${rate[$t]:-?}" "${status[$t]}"
done
log "build $((built - start)) s, fuzzing $((end - built)) s, total $((end - start)) s"
if [ "$failed" -ne 0 ]; then
    echo "fuzz/run.sh: a target crashed (reproduce: cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/FILE)" >&2
    exit 1
fi
