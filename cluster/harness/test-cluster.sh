#!/usr/bin/env bash
# test-cluster.sh — `make test-cluster`: the synthetic teacher trained over TCP between two namespace
# hosts (netns.sh), launched by mpirun with rsh-agent.sh as its ssh:
#   1. 2 hosts × 1 rank and 2 hosts × 2 ranks give the single-process losses (relative 1e-5);
#   2. host 1's link goes down in the middle of a run: the job must end within the watchdog time
#      with a message naming the step, and `--resume latest` on one host finishes the run.
# Skips, saying so, when the machine does not allow network namespaces. Leaves nothing behind.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
harness_start test-cluster 2

# mpirun in host 0's namespace, ranks spread over the hosts given as "198.18.0.1:R,198.18.0.2:R".
on_hosts() {
  local hosts=$1 ranks=$2; shift 2
  # shellcheck disable=SC2086
  ip netns exec rchost0 mpirun -np "$ranks" --host "$hosts" $mpirun_args -x OPENBLAS_NUM_THREADS "$@"
}
same_losses() {
  python3 - "$(losses "$1")" "$(losses "$2")" <<'PY'
import sys
a, b = [list(map(float, s.split())) for s in sys.argv[1:3]]
ok = len(a) == len(b) == 4 and all(abs(x - y) <= 1e-5 * abs(y) for x, y in zip(a, b))
print("  losses", a, "\n  single", b)
sys.exit(0 if ok else 1)
PY
}

echo "test-cluster: single process"
# shellcheck disable=SC2046
"$bin" $(train_args single --set train.max_steps=4) > "$work/single.log"
for layout in "198.18.0.1:1,198.18.0.2:1 2 hosts2x1" "198.18.0.1:2,198.18.0.2:2 4 hosts2x2"; do
  read -r hosts ranks name <<< "$layout"
  echo "test-cluster: $name over TCP"
  # shellcheck disable=SC2046
  on_hosts "$hosts" "$ranks" "$bin" $(train_args "$name" --set train.max_steps=4) > "$work/$name.log" 2>&1 || { cat "$work/$name.log"; exit 1; }
  same_losses "$name" single || { echo "test-cluster: FAILED — $name differs from the single process"; exit 1; }
done

echo "test-cluster: cutting host 1's link in the middle of a run"
watchdog=15
# shellcheck disable=SC2046
on_hosts 198.18.0.1:1,198.18.0.2:1 2 "$bin" $(train_args cut --set train.max_steps=100000 --set train.epochs=100000 \
  --set train.checkpoint_every=2 --set "runtime.watchdog_seconds=$watchdog") > "$work/cut.log" 2>&1 &
job=$!
for _ in $(seq 600); do
  [[ -f "$work/runs/cut/checkpoints/index.json" ]] && [[ $(grep -c '"step"' "$work/runs/cut/metrics.jsonl" 2>/dev/null || echo 0) -ge 6 ]] && break
  sleep 0.1
done
"$netns" link 1 down
cut_at=$SECONDS
status=0
for _ in $(seq $((4 * watchdog * 10))); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
if kill -0 $job 2>/dev/null; then
  echo "test-cluster: FAILED — the job still runs $((SECONDS - cut_at)) s after the cut"; cat "$work/cut.log"; exit 1
fi
wait $job || status=$?
ended=$((SECONDS - cut_at))
if [[ $status == 0 ]] || ! grep -q "after step [0-9]" "$work/cut.log"; then
  echo "test-cluster: FAILED — expected a failed job naming the step (status $status)"; cat "$work/cut.log"; exit 1
fi
echo "  ended ${ended} s after the cut (watchdog ${watchdog} s), status $status: $(grep -m1 -o 'rank [0-9]* made no progress.*after step [0-9]*' "$work/cut.log")"
if ((ended > 2 * watchdog + 10)); then echo "test-cluster: FAILED — took too long to end"; exit 1; fi

last=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[-1]["step"])' "$work/runs/cut/checkpoints/index.json")
echo "test-cluster: resuming on host 0 alone from step $last"
# shellcheck disable=SC2046
ip netns exec rchost0 "$bin" $(train_args cut --set train.max_steps=$((last + 2)) --set train.epochs=100000 --resume latest) \
  > "$work/resume.log" 2>&1 || { cat "$work/resume.log"; exit 1; }
grep -q "done: step $((last + 2))" "$work/resume.log" || { echo "test-cluster: FAILED — the resumed run did not finish"; cat "$work/resume.log"; exit 1; }
echo "test-cluster: passed in $((SECONDS - started)) s"
