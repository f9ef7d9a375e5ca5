#!/usr/bin/env bash
# Builds the example guests to examples/wasm/<name>.wasm with plain rustc (no
# cargo), so it works with rustup's toolchain and with Debian's rustc 1.63.
#
#   examples/build-guests.sh                 # every guest in examples/guests/
#   examples/build-guests.sh echo counter    # only these
#   GUEST_RUSTC=/path/to/rustc examples/build-guests.sh
#
# It builds the SDK (sdk/src/lib.rs) as an rlib in a temporary directory, then
# each examples/guests/<name>/src/lib.rs as a cdylib against it, validates the
# modules with wasm-validate and checks their imports and exports against the
# guest ABI (spec/abi.md) with wasm-objdump, when wabt is installed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
guests_dir="$root/examples/guests"
out_dir="$root/examples/wasm"
target=wasm32-unknown-unknown

has_wasm_target() {
    local sysroot
    sysroot=$("$1" --print sysroot 2>/dev/null) || return 1
    [ -d "$sysroot/lib/rustlib/$target" ]
}

if [ -n "${GUEST_RUSTC:-}" ]; then
    rustc_bin=$GUEST_RUSTC
    if ! has_wasm_target "$rustc_bin"; then
        echo "error: GUEST_RUSTC=$rustc_bin has no $target standard library" >&2
        echo "       (nothing at \$($rustc_bin --print sysroot)/lib/rustlib/$target)" >&2
        exit 1
    fi
elif command -v rustc >/dev/null 2>&1 && has_wasm_target rustc; then
    rustc_bin=$(command -v rustc)
elif [ -x /usr/bin/rustc ] && has_wasm_target /usr/bin/rustc; then
    rustc_bin=/usr/bin/rustc
else
    cat >&2 <<EOF
error: no rustc with the $target standard library was found.
Install one of:
  rustup target add $target
  sudo apt-get install rustc libstd-rust-dev-wasm32 lld-14     # Debian/Ubuntu
or point GUEST_RUSTC at a rustc that has it.
EOF
    exit 1
fi
echo "compiler: $rustc_bin ($("$rustc_bin" --version))"

# Which guests.
if [ $# -gt 0 ]; then
    names=("$@")
else
    names=()
    for src in "$guests_dir"/*/src/lib.rs; do
        [ -e "$src" ] || continue
        name=${src#"$guests_dir"/}
        names+=("${name%%/*}")
    done
fi
if [ ${#names[@]} -eq 0 ]; then
    echo "error: no guests found in $guests_dir" >&2
    exit 1
fi
for name in "${names[@]}"; do
    if [ ! -f "$guests_dir/$name/src/lib.rs" ]; then
        echo "error: no guest named '$name' (no $guests_dir/$name/src/lib.rs)" >&2
        exit 1
    fi
done

# -C strip=symbols drops the name section and debug info: the modules are a
# fraction of the size. --remap-path-prefix keeps the checkout's path out of
# panic messages, so the output does not depend on where the repo is. A 32 KiB stack instead of rustc's 1 MiB default keeps
# the initial memory (and so the cost of creating an actor) to a page or two.
flags=(
    --edition 2021
    --target "$target"
    -C opt-level=3
    -C panic=abort
    -C codegen-units=1
    -C strip=symbols
    -C link-arg=-zstack-size=32768
    --remap-path-prefix "$root=."
)

work=$(mktemp -d "${TMPDIR:-/tmp}/goldfish-guests.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "building the SDK (sdk/src/lib.rs)"
"$rustc_bin" "${flags[@]}" --crate-type rlib --crate-name goldfish_guest \
    "$root/sdk/src/lib.rs" -o "$work/libgoldfish_guest.rlib"

mkdir -p "$out_dir"

# The ABI, as wasm-objdump prints the types: name -> signature.
declare -A abi_imports=(
    [reply]="(i32, i32) -> nil"
    [send]="(i32, i32, i32, i32) -> i32"
    [call]="(i32, i32, i32, i32) -> i32"
    [call_result]="(i32, i32) -> i32"
    [next]="(i32, i32, i32) -> nil"
    [session]="(i32, i32) -> i32"
    [self_id]="(i32, i32) -> i32"
    [log]="(i32, i32, i32) -> nil"
    [now_ms]="() -> i64"
)
declare -A abi_exports=(
    [gf_alloc]="(i32) -> i32"
    [gf_handle]="(i32, i32) -> i32"
)

# Checks a module's imports and exports against the tables above. Sets
# `pages` to its initial memory in 64 KiB pages.
type_re='^ - type\[([0-9]+)\] (.*)$'
import_re='^ - ([a-z]+)\[[0-9]+\] (sig=([0-9]+) )?.*<- ([^ ]+)$'
export_re='^ - ([a-z]+)\[([0-9]+)\].*-> "([^"]+)"$'
func_re='^ - func\[([0-9]+)\] sig=([0-9]+)'
memory_re='^ - memory\[0\] pages: initial=([0-9]+)'
check_abi() {
    local dump line section="" ok=0
    local -A types=() exported=() func_sig=()
    dump=$(wasm-objdump -x "$1")
    while IFS= read -r line; do
        case $line in
        Type*) section=type ;;
        Import*) section=import ;;
        Function*) section=function ;;
        Memory*) section=memory ;;
        Export*) section=export ;;
        [A-Z]*) section="" ;;
        esac
        case $section in
        type)
            [[ $line =~ $type_re ]] && types[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
            ;;
        import)
            if [[ $line =~ $import_re ]]; then
                local kind=${BASH_REMATCH[1]} sig=${BASH_REMATCH[3]} full=${BASH_REMATCH[4]}
                local module=${full%%.*} field=${full#*.}
                if [ "$kind" != func ] || [ "$module" != goldfish ] || [ -z "${abi_imports[$field]+x}" ]; then
                    echo "  ABI: imports $kind $full, which is not a goldfish host function" >&2
                    ok=1
                elif [ "${types[$sig]:-?}" != "${abi_imports[$field]}" ]; then
                    echo "  ABI: import $full has type ${types[$sig]:-?}, expected ${abi_imports[$field]}" >&2
                    ok=1
                fi
            fi
            ;;
        function)
            [[ $line =~ $func_re ]] && func_sig[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
            ;;
        memory)
            [[ $line =~ $memory_re ]] && pages=${BASH_REMATCH[1]}
            ;;
        export)
            [[ $line =~ $export_re ]] && exported[${BASH_REMATCH[3]}]="${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
            ;;
        esac
    done <<<"$dump"
    if [[ ${exported[memory]:-} != memory* ]]; then
        echo "  ABI: no memory export" >&2
        ok=1
    fi
    local name what sig
    for name in "${!abi_exports[@]}"; do
        what=${exported[$name]:-}
        if [[ $what != func* ]]; then
            echo "  ABI: no function export $name" >&2
            ok=1
            continue
        fi
        sig=${func_sig[${what#func }]:-?}
        if [ "${types[$sig]:-?}" != "${abi_exports[$name]}" ]; then
            echo "  ABI: export $name has type ${types[$sig]:-?}, expected ${abi_exports[$name]}" >&2
            ok=1
        fi
    done
    return $ok
}

have_validate=0
have_objdump=0
command -v wasm-validate >/dev/null 2>&1 && have_validate=1
command -v wasm-objdump >/dev/null 2>&1 && have_objdump=1
[ $have_validate = 1 ] || echo "note: wasm-validate not found (install wabt); skipping validation"
[ $have_objdump = 1 ] || echo "note: wasm-objdump not found (install wabt); skipping the ABI check"

failed=0
for name in "${names[@]}"; do
    wasm="$out_dir/$name.wasm"
    "$rustc_bin" "${flags[@]}" --crate-type cdylib --crate-name "$name" \
        -L "$work" --extern goldfish_guest="$work/libgoldfish_guest.rlib" \
        "$guests_dir/$name/src/lib.rs" -o "$wasm"
    chmod 644 "$wasm"
    status=""
    if [ $have_validate = 1 ]; then
        if wasm-validate "$wasm"; then
            status="valid"
        else
            status="INVALID"
            failed=1
        fi
    fi
    pages="?"
    if [ $have_objdump = 1 ]; then
        if check_abi "$wasm"; then
            status="$status, ABI ok"
        else
            status="$status, ABI MISMATCH"
            failed=1
        fi
    fi
    size=$(wc -c <"$wasm")
    printf '  %-10s %7d bytes  initial memory %s page(s)  %s\n' \
        "$name" "$size" "$pages" "${status#, }"
done

if [ $failed != 0 ]; then
    echo "error: some guests failed validation" >&2
    exit 1
fi
echo "wrote ${#names[@]} module(s) to ${out_dir#"$root"/}/"
