#!/usr/bin/env bash
# elastic.sh — `launch.sh --elastic MIN[:MAX] [--max-restarts N] [--probe-seconds S] [--backoff S] ARGS…`:
# runs one refclip command (a training run) on every host that answers and, when the job ends with a
# failure that is not the user's, starts it again on the hosts that still answer, resuming from the
# newest complete checkpoint (`--resume auto`), without a person:
#   1. probe every host of the hostfile (Slurm: every node of the allocation) with a bounded launch of
#      `true` (mpirun or srun under `timeout`); a host that does not answer in time is left out, and is
#      probed again before the next start, so it rejoins once it answers;
#   2. fewer than MIN hosts answering: stop, saying which; more than MAX: use the first MAX;
#   3. run the command on them (the global batch stays as configured; refclip refuses, naming the world
#      sizes that divide it, when this one does not, and that is the user's to fix);
#   4. exit 0 (done), 2 (the user's error: config, data), or a signal the job was sent (preemption:
#      Slurm requeues it) ends the supervisor with that status; any other failure (a rank killed, a
#      host lost, the watchdog) restarts it, up to --max-restarts times, waiting --backoff seconds
#      (doubled at each restart, at most 60). SIGTERM and SIGINT sent to the supervisor go on to the
#      job (refclip checkpoints and exits) and end it, as for a plain launch; exit 3 when too few
#      hosts answer, after asking Slurm to requeue the job when inside an allocation.
# Each restart is a line here and a `restart` record in the run's metrics.jsonl (REFCLIP_RESTART tells
# refclip the attempt, the failure and the hosts before and after; refclip adds the steps redone).
# Environment as launch.sh (REFCLIP_BIN, REFCLIP_HOSTFILE, REFCLIP_LAUNCHER, env.sh), plus
# REFCLIP_MPIRUN_ARGS: extra mpirun arguments (the namespace harness passes its rsh agent and TCP
# settings), and REFCLIP_DRY_RUN=1 to print the first launch instead of running it.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/env.sh"

usage() { echo "usage: launch.sh --elastic MIN[:MAX] [--max-restarts N] [--probe-seconds S] [--backoff S] REFCLIP-ARGS…" >&2; exit 2; }
[[ $# -ge 2 && $1 == --elastic ]] || usage
range=$2; shift 2
min=${range%%:*}; max=${range#*:}; [[ $range == *:* ]] || max=100000
[[ $min =~ ^[0-9]+$ && $max =~ ^[0-9]+$ && $min -ge 1 && $max -ge $min ]] || { echo "elastic: MIN[:MAX] must be positive integers, MIN ≤ MAX (got '$range')" >&2; exit 2; }
max_restarts=3 probe_seconds=20 backoff=5
while [[ $# -gt 0 ]]; do
  case $1 in
    --max-restarts) max_restarts=$2; shift 2 ;;
    --probe-seconds) probe_seconds=$2; shift 2 ;;
    --backoff) backoff=$2; shift 2 ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || usage
args=("$@")
[[ " ${args[*]} " == *" --resume "* ]] || args+=(--resume auto)
bin=${REFCLIP_BIN:-$(command -v refclip || echo "$here/../.build/release/refclip")}
launcher=${REFCLIP_LAUNCHER:-$([[ -n "${SLURM_JOB_ID:-}" ]] && echo srun || echo mpirun)}
read -r -a extra <<< "${REFCLIP_MPIRUN_ARGS:-}"

# The hosts and their slots (ranks per host), in order.
declare -a names slots
if [[ $launcher == srun ]]; then
  mapfile -t names < <(scontrol show hostnames "${SLURM_JOB_NODELIST:?not inside a Slurm allocation}")
  per_node=$(( ${SLURM_NTASKS:?} / ${#names[@]} ))
  for _ in "${names[@]}"; do slots+=("$per_node"); done
else
  hostfile=${REFCLIP_HOSTFILE:?set REFCLIP_HOSTFILE (see cluster/hostfile.example)}
  while read -r name rest; do
    [[ -z $name || $name == \#* ]] && continue
    names+=("$name")
    slots+=("$(sed -n 's/.*slots=\([0-9]*\).*/\1/p' <<< "$rest" | grep . || echo 1)")
  done < "$hostfile"
fi

say() { echo "elastic: $*" >&2; }

# Whether host $1 answers within the probe time.
answers() {
  if [[ $launcher == srun ]]; then
    timeout "$probe_seconds" srun --nodes=1 --ntasks=1 -w "$1" true > /dev/null 2>&1
  else
    timeout "$probe_seconds" mpirun -np 1 --host "$1:1" "${extra[@]}" true > /dev/null 2>&1
  fi
}

# The command over the chosen hosts (indices into names).
command_for() {
  local ranks=0 hosts="" exclude="" i
  for i in "$@"; do ranks=$((ranks + slots[i])); hosts+="${names[i]}:${slots[i]},"; done
  if [[ $launcher == srun ]]; then
    for i in "${!names[@]}"; do [[ " $* " == *" $i "* ]] || exclude+="${names[i]},"; done
    launch=(srun --mpi=pmix --kill-on-bad-exit=1 --cpu-bind=cores --nodes="$#" --ntasks="$ranks" --cpus-per-task="$REFCLIP_BLAS_THREADS"
            ${exclude:+--exclude="${exclude%,}"})
  else
    launch=(mpirun -np "$ranks" --host "${hosts%,}" "${extra[@]}" -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS -x REFCLIP_RESTART)
    [[ -n "${OPENBLAS_CORETYPE:-}" ]] && launch+=(-x OPENBLAS_CORETYPE)
  fi
  launch+=("$bin" "${args[@]}" --blas-threads "$REFCLIP_BLAS_THREADS")
}

json_hosts() { local out="" i; for i in "$@"; do out+="\"${names[i]}\","; done; echo "[${out%,}]"; }

attempt=0 previous=() reason="" stopping=0
export REFCLIP_RESTART=""
while true; do
  chosen=()
  for i in "${!names[@]}"; do
    (( ${#chosen[@]} < max )) || break
    if [[ ${REFCLIP_DRY_RUN:-0} == 1 ]] || answers "${names[i]}"; then chosen+=("$i"); else say "host ${names[i]} does not answer within ${probe_seconds} s; left out"; fi
  done
  if (( ${#chosen[@]} < min )); then
    say "only ${#chosen[@]} of ${#names[@]} hosts answer ($(json_hosts "${chosen[@]}")); at least $min needed — stopping"
    # Inside Slurm the job goes back to the queue, to resume on a new allocation.
    if [[ $launcher == srun ]] && scontrol requeue "$SLURM_JOB_ID" 2>/dev/null; then say "job $SLURM_JOB_ID requeued"; fi
    exit 3
  fi
  command_for "${chosen[@]}"
  if [[ ${REFCLIP_DRY_RUN:-0} == 1 ]]; then printf '%q ' "${launch[@]}" | sed 's/ $//'; echo; exit 0; fi
  if (( attempt > 0 )); then
    export REFCLIP_RESTART="{\"attempt\": $attempt, \"failure\": \"$reason\", \"hosts_before\": $(json_hosts "${previous[@]}"), \"hosts_after\": $(json_hosts "${chosen[@]}")}"
    say "restart $attempt after $reason: hosts $(json_hosts "${previous[@]}") → $(json_hosts "${chosen[@]}")"
  fi
  # The job runs as a child: a SIGTERM or SIGINT (Slurm's warning before the time limit, Ctrl-C) goes
  # on to it, refclip checkpoints and exits, and that ends the supervisor too.
  "${launch[@]}" &
  child=$!
  trap 'kill -TERM $child 2>/dev/null; stopping=1' TERM
  trap 'kill -INT $child 2>/dev/null; stopping=1' INT
  status=0
  while true; do
    wait $child && status=0 || status=$?
    kill -0 $child 2>/dev/null || break   # wait returned early for a trapped signal: wait again
  done
  trap - TERM INT
  [[ ${stopping:-0} == 1 ]] && { say "stopped by a signal (job exit $status): not restarted"; exit "$status"; }
  case $status in
    0) exit 0 ;;
    2) say "the job refused its input (exit 2): not restarted"; exit 2 ;;
    130 | 143) say "the job was stopped by a signal (exit $status): not restarted"; exit "$status" ;;
  esac
  reason="exit $status"
  attempt=$((attempt + 1))
  if (( attempt > max_restarts )); then say "the job failed ($reason) after $max_restarts restarts — stopping"; exit "$status"; fi
  say "the job failed ($reason); probing the hosts again in ${backoff} s"
  sleep "$backoff"
  backoff=$(( backoff * 2 > 60 ? 60 : backoff * 2 ))
  previous=("${chosen[@]}")
done
