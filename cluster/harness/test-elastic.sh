#!/usr/bin/env bash
# test-elastic.sh — `make test-elastic`: a teacher run under `launch.sh --elastic 2:3` over three
# namespace hosts (one rank each, global batch 6) heals itself without a person:
#   1. host 2's link is cut mid-run: the job ends (watchdog), the launcher finds host 2 silent and
#      starts again on hosts 0 and 1 from the newest checkpoint;
#   2. the link comes back and a rank is killed (SIGKILL): the launcher starts again on all three;
#   3. the run finishes; its parameters equal, within the world-size tolerance, those of a run taken
#      through the same world sizes by hand (3 ranks, then 2 from the first restart's step, then 3);
#      each restart is a `restart` record in metrics.jsonl (hosts before and after, steps redone);
#   4. with host 2 cut and MIN 3, the launcher stops at once saying so (no hang).
# Prints, per failure, the seconds from the failure to the first step trained again and the steps
# redone. Skips, saying so, where the machine allows no network namespaces. Leaves nothing behind.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
harness_start test-elastic 3
python=${REFCLIP_PYTHON:-python3}
printf '198.18.0.%d slots=1\n' 1 2 3 > "$work/hosts"
watchdog=10 steps=120
run_args() { train_args "$@" --set train.batch=6 --set train.checkpoint_every=4 --set "runtime.watchdog_seconds=$watchdog"; }

# The supervisor, in host 0's namespace.
elastic() {
  local range=$1; shift
  ip netns exec rchost0 env REFCLIP_BIN="$bin" REFCLIP_HOSTFILE="$work/hosts" REFCLIP_MPIRUN_ARGS="$mpirun_args" \
    "$root/cluster/launch.sh" --elastic "$range" --probe-seconds 5 --backoff 1 --max-restarts 3 "$@"
}
# Records of kind $2 in run $1's metrics.jsonl (0 before it exists).
records() { awk -v kind="\"event\":\"$2\"" 'index($0, kind) { n++ } END { print n + 0 }' "$work/runs/$1/metrics.jsonl" 2>/dev/null || echo 0; }
logged() { records "$1" step; }
restarts() { records "$1" restart; }
# Waits until run $1 has logged $2 more steps than now (at most $3 seconds).
await_steps() {
  local target=$(( $(logged "$1") + $2 )) deadline=$((SECONDS + $3))
  while (( $(logged "$1") < target )); do
    (( SECONDS < deadline )) || { echo "test-elastic: FAILED — run $1 made no progress in $3 s"; cat "$work/elastic.log"; exit 1; }
    sleep 0.1
  done
}
# Seconds from now until run $1 logs restart number $2 and then a step past it.
time_to_training() {
  local from=$SECONDS
  until (( $(restarts "$1") >= $2 )); do (( SECONDS - from < 180 )) || return 1; sleep 0.1; done
  await_steps "$1" 1 60
  echo $((SECONDS - from))
}

echo "test-elastic: 3 hosts, elastic 2:3"
# shellcheck disable=SC2046
elastic 2:3 $(run_args elastic --set train.max_steps=$steps --set train.epochs=100000) > "$work/elastic.log" 2>&1 &
job=$!
await_steps elastic 8 120

echo "test-elastic: cutting host 2's link"
"$netns" link 2 down
cut=$(time_to_training elastic 1) || { echo "test-elastic: FAILED — no restart after the cut"; cat "$work/elastic.log"; exit 1; }
grep -q 'host 198.18.0.3 does not answer' "$work/elastic.log" || { echo "test-elastic: FAILED — the cut host was not left out"; cat "$work/elastic.log"; exit 1; }
await_steps elastic 4 60

echo "test-elastic: link back, killing a rank"
"$netns" link 2 up
sleep 1
ip netns pids rchost1 | xargs -r ps -o pid=,comm= -p | awk '$2 == "refclip" { print $1 }' | xargs -r kill -9
killed=$(time_to_training elastic 2) || { echo "test-elastic: FAILED — no restart after the kill"; cat "$work/elastic.log"; exit 1; }
wait $job || { echo "test-elastic: FAILED — the elastic run did not finish"; cat "$work/elastic.log"; exit 1; }
grep -q "done: step $steps" "$work/elastic.log" || { echo "test-elastic: FAILED — the run did not reach step $steps"; cat "$work/elastic.log"; exit 1; }

# The restarts as recorded, and the same world sizes by hand.
read -r first second <<< "$(python3 -c '
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if "\"restart\"" in l]
assert [len(x["hosts_before"]) for x in r] == [3, 2] and [len(x["hosts_after"]) for x in r] == [2, 3], r
for x in r: print("  restart %d after %s: %d → %d hosts, resumed at step %d, %d steps redone" % (x["attempt"], x["failure"], len(x["hosts_before"]), len(x["hosts_after"]), x["step"], x["steps_redone"]), file=sys.stderr)
print(r[0]["step"], r[1]["step"])' "$work/runs/elastic/metrics.jsonl")"
echo "  seconds from failure to training again: link cut $cut (watchdog $watchdog s), rank killed $killed"
on_hosts() {
  local hosts=$1 ranks=$2; shift 2
  # shellcheck disable=SC2086
  ip netns exec rchost0 mpirun -np "$ranks" --host "$hosts" $mpirun_args -x OPENBLAS_NUM_THREADS "$@" > "$work/by-hand.log" 2>&1 \
    || { cat "$work/by-hand.log"; exit 1; }
}
three=198.18.0.1:1,198.18.0.2:1,198.18.0.3:1 two=198.18.0.1:1,198.18.0.2:1
# shellcheck disable=SC2046
on_hosts $three 3 "$bin" $(run_args by-hand --set train.max_steps="$first" --set train.epochs=100000)
# shellcheck disable=SC2046
on_hosts $two 2 "$bin" $(run_args by-hand --set train.max_steps="$second" --set train.epochs=100000 --resume latest)
# shellcheck disable=SC2046
on_hosts $three 3 "$bin" $(run_args by-hand --set train.max_steps=$steps --set train.epochs=100000 --resume latest)
for run in elastic by-hand; do
  "$bin" export "$work/runs/$run/checkpoints/$(printf 'step-%08d.refclip' $steps)" --raw --safetensors "$work/$run.safetensors" > /dev/null
done
"$python" - "$work/elastic.safetensors" "$work/by-hand.safetensors" <<'PY' || { echo "test-elastic: FAILED — the healed run's parameters differ"; exit 1; }
import sys
from safetensors.numpy import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
worst = max(float(abs(a[k].astype("float64") - b[k]).max() / (abs(b[k]).max() + 1e-12)) for k in b if b[k].dtype.kind == "f")
print("  parameters against the run taken through the same world sizes by hand: largest relative difference %.1e" % worst)
sys.exit(0 if worst <= 1e-4 else 1)
PY

echo "test-elastic: host 2 cut, elastic 3 — must stop at once"
"$netns" link 2 down
status=0
# shellcheck disable=SC2046
timeout 120 bash -c "$(declare -f elastic); $(declare -p work mpirun_args bin root); elastic 3 $(run_args short --set train.max_steps=4)" \
  > "$work/short.log" 2>&1 || status=$?
grep -q "only 2 of 3 hosts answer" "$work/short.log" && [[ $status == 3 ]] \
  || { echo "test-elastic: FAILED — expected a refusal (exit 3), got $status"; cat "$work/short.log"; exit 1; }
echo "  $(grep -o 'only 2 of 3 hosts answer.*' "$work/short.log")"
echo "test-elastic: passed in $((SECONDS - started)) s"
