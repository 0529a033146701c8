#!/usr/bin/env bash
# fuzz.sh — `make fuzz`: libFuzzer over every reader of outside files (`refclip-fuzz TARGET`, built with
# -sanitize=fuzzer,address), FUZZ_SECONDS each (default 60), FUZZ_JOBS targets at a time (default 2). Each starts from
# the committed seeds (Tests/Fixtures/fuzz-seeds/TARGET) and the corpus it grew before
# (.build/fuzz/corpus/TARGET, kept out of git). Inputs up to 64 KiB; a single allocation above
# 64 MiB (1024× the largest input) is a finding, like a trap, a memory error or a 10 s hang. Findings
# go to .build/fuzz/findings/TARGET/ and fail the run; the table gives executions, coverage and
# findings per target. Swift's backtracer is off while fuzzing (its crash handler reads memory ASan
# then reports instead of the trap) and on when a finding is replayed to show where it trapped. Leak
# detection is off: Foundation's error paths and the runtime's caches report leaks that are not
# refclip's, and memory growth is bounded by -rss_limit_mb.
#   usage: Tests/fuzz.sh REFCLIP_FUZZ_BINARY      FUZZ_TARGETS (default: every target)
set -euo pipefail
bin=$1
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
out=$root/.build/fuzz
targets=${FUZZ_TARGETS:-pth zip pickle checkpoint safetensors feature-store darknet-cfg darknet-weights annotations word-vectors config image}

run() {
  local target=$1
  mkdir -p "$out/corpus/$target" "$out/findings/$target"
  ASAN_OPTIONS=detect_leaks=0 SWIFT_BACKTRACE=enable=no "$bin" "$target" -max_total_time="$seconds" -detect_leaks=0 -max_len=65536 -malloc_limit_mb=64 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$out/findings/$target/" \
    "$out/corpus/$target" "$root/Tests/Fixtures/fuzz-seeds/$target" > "$out/$target.log" 2>&1 || true
}
export -f run
export bin root seconds out
mkdir -p "$out"
printf '%s\n' $targets | xargs -P "${FUZZ_JOBS:-2}" -I{} bash -c 'run {}'

echo
echo "| target | executions | coverage (edges) | features | corpus | findings |"
echo "|---|---:|---:|---:|---:|---:|"
failed=0
for target in $targets; do
  log=$out/$target.log
  executions=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  coverage=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || echo "?")
  features=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || echo "?")
  corpus=$(ls "$out/corpus/$target" | wc -l)
  findings=$(ls "$out/findings/$target" | wc -l)
  echo "| $target | ${executions:-?} | ${coverage:-?} | ${features:-?} | $corpus | $findings |"
  if [[ $findings -gt 0 ]]; then
    failed=1
    for f in "$out/findings/$target"/*; do
      echo "  finding: $f" >&2
      ASAN_OPTIONS=detect_leaks=0 SWIFT_BACKTRACE=enable=yes,interactive=no "$bin" "$target" -detect_leaks=0 "$f" 2>&1 \
        | grep -m2 -E 'runtime failure|Fatal error|out-of-memory|ERROR: AddressSanitizer' | sed 's/^ */    /' >&2 || true
    done
  fi
done
[[ $failed == 0 ]] || { echo "fuzz: findings above (logs in $out/TARGET.log); reproduce with: $bin TARGET FILE" >&2; exit 1; }
