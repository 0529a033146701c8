#!/usr/bin/env bash
# test-kernels.sh — the numeric tests (every test class but the command-line ones and the file-format
# export checks) under each OpenBLAS kernel and thread count, because a suite that is green on one
# kernel only is a broken suite. Run by
# `make test-kernels` (REFCLIP_BIN and REFCLIP_PYTHON set). A kernel this CPU cannot run (SKYLAKEX
# without AVX-512) is skipped with a line saying so; the run fails if any combination fails.
#   TEST_KERNELS  default: "default PRESCOTT HASWELL SKYLAKEX" ("default" = OpenBLAS's own choice)
#   TEST_THREADS  default: "unset 1 2" (OPENBLAS_NUM_THREADS; "unset" leaves it to OpenBLAS)
set -uo pipefail
cd "$(dirname "$0")/.."
swift=${SWIFT:-swift}
config=${CONFIG:-release}
kernels=${TEST_KERNELS:-default PRESCOTT HASWELL SKYLAKEX}
threads=${TEST_THREADS:-unset 1 2}
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# One build for all combinations (a filter that matches nothing); the runs below only execute.
if ! "$swift" test -c "$config" --filter NoSuchTestJustBuild >"$log/build" 2>&1 && grep -q "error:" "$log/build"; then
  cat "$log/build"
  exit 1
fi

tests=$("$swift" build -c "$config" --show-bin-path)/refclipPackageTests.xctest
selection=$("$tests" --list-tests | grep -E '^[A-Za-z]+Tests\.' | cut -d/ -f1 | sort -u \
  | grep -v -e '^CommandLineTests\.' -e '^TrainingTests\.ExportTests$' | paste -sd, -)
summary=() failed=0
for kernel in $kernels; do
  if [[ $kernel != default ]] && ! reason=$("$REFCLIP_BIN" env --can-run "$kernel"); then
    summary+=("| $kernel | all | | SKIPPED: $reason |")
    continue
  fi
  for n in $threads; do
    env_args=(-u OPENBLAS_CORETYPE -u OPENBLAS_NUM_THREADS)
    [[ $kernel != default ]] && env_args+=("OPENBLAS_CORETYPE=$kernel")
    [[ $n != unset ]] && env_args+=("OPENBLAS_NUM_THREADS=$n")
    start=$(date +%s)
    if env "${env_args[@]}" "$tests" "$selection" >"$log/run" 2>&1; then
      result="passed"
    else
      result="FAILED"
      failed=1
      echo "== OPENBLAS_CORETYPE=$kernel OPENBLAS_NUM_THREADS=$n failed:"
      grep -E "error:|failed \(" "$log/run" | head -20
    fi
    executed=$(grep -Eo "Executed [0-9]+ tests" "$log/run" | tail -1)
    ran=$(env "${env_args[@]}" "$REFCLIP_BIN" env 2>/dev/null | sed -n 's/^blas .*kernel \([A-Za-z0-9_]*\).*/\1/p')
    summary+=("| $kernel | $n | ${ran:-?} | $result: ${executed:-no tests ran} in $(($(date +%s) - start)) s |")
  done
done
echo
echo "| OPENBLAS_CORETYPE | OPENBLAS_NUM_THREADS | kernel | numeric tests |"
echo "|---|---|---|---|"
printf '%s\n' "${summary[@]}"
exit $failed
