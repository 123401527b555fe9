#!/usr/bin/env bash
# Builds every cargo-fuzz target under fuzz/ once and runs each for SECONDS (default 60) over
# its committed corpus in fuzz/corpus/<target>/. Installs cargo-fuzz when missing; needs the
# nightly toolchain (`cargo +nightly`). Exits non-zero on the first crash, leak, timeout or
# out-of-memory, leaving the input in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS]
#
# Environment:
#   FUZZ_TARGET_DIR   build directory, outside the checkout so CI can cache it
#                     (default /var/tmp/hpvs-fuzz-target)
#   FUZZ_TARGETS      space-separated subset of targets (default: all)
#   FUZZ_JOBS         targets run at once (default 1)
#   FUZZ_NEW_CORPUS   directory receiving the new inputs found, one subdirectory per target
#                     (default: a temporary directory, discarded; the committed corpus is
#                     only read)
#   FUZZ_LOGS         directory keeping each target's libFuzzer log (default: discarded)
#   FUZZ_ARGS         extra libFuzzer arguments
#   FUZZ_PROFILE      release (default: fast executions, for real fuzzing) or dev (a build
#                     that costs far less CPU, for the short regression runs of test.sh)
#
# Build choice: debug assertions and overflow checks on, no sanitizer (`-s none`: the code
# under test forbids `unsafe`, so AddressSanitizer would only slow every run and lengthen the
# build); release is opt-level 1 (fuzz/Cargo.toml) with 16 codegen units.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
target_dir="${FUZZ_TARGET_DIR:-/var/tmp/hpvs-fuzz-target}"
jobs="${FUZZ_JOBS:-1}"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: the nightly toolchain is missing (cargo +nightly); install it with rustup" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

case "${FUZZ_PROFILE:-release}" in
    release) build_flags=(-O -a -s none --codegen-units 16) profile_dir=release ;;
    dev) build_flags=(--dev -a -s none) profile_dir=debug ;;
    *) echo "fuzz.sh: FUZZ_PROFILE must be release or dev" >&2; exit 1 ;;
esac
build_flags+=(--target-dir "$target_dir")
echo "== cargo fuzz build"
cargo +nightly fuzz build "${build_flags[@]}"

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
bin_dir="$target_dir/$triple/$profile_dir"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/hpvs-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
new_corpus="${FUZZ_NEW_CORPUS:-$scratch/new}"
logs="${FUZZ_LOGS:-$scratch/logs}"
mkdir -p artifacts "$logs"
read -r -a extra_args <<<"${FUZZ_ARGS:-}"

run_one() {
    local target="$1"
    local out="$new_corpus/$target"
    mkdir -p "$out" "artifacts/$target" "$scratch/tmp-$target"
    # The targets make temporary files; keep them (and anything a crash leaves) in scratch.
    if TMPDIR="$scratch/tmp-$target" "$bin_dir/$target" \
        -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="artifacts/$target/" "${extra_args[@]}" \
        "$out" "corpus/$target" >"$logs/$target.log" 2>&1; then
        echo "$target: ok, $(grep -E '^stat::number_of_executed_units' "$logs/$target.log" \
            | awk '{print $2}') runs in ${seconds}s, $(find "$out" "corpus/$target" -type f | wc -l) inputs"
    else
        echo "$target: FAILED (input in fuzz/artifacts/$target/):" >&2
        grep -E -A30 'panicked|ERROR: libFuzzer|==ERROR' "$logs/$target.log" | head -60 >&2
        return 1
    fi
}

echo "== fuzzing each target for ${seconds}s"
failed=0
running=0
for target in $targets; do
    run_one "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
exit "$failed"
