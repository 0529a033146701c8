#!/usr/bin/env bash
# bench-scale.sh — `make bench-scale`: what distribution costs on real links. `refclip-bench scale`
# (all-reduce bandwidth; teacher and student steps at the reference size, overlap off/on, f32/bf16)
# over 2 and 4 network-namespace hosts (netns.sh), one rank × one BLAS thread per host, each host's
# link shaped with tc: tbf at 1 and 10 Gbit/s, plus netem's 0.1 ms delay where the kernel has netem
# (the table says when it has not). Then scale_model.py fits the α–β model to the measurements and
# predicts 8–256 hosts. Needs root; skips with a line saying why otherwise.
#   BENCH_HOSTS  default "2 4"          BENCH_LINKS  default "1gbit 10gbit" (tbf rates; "none" unshaped)
#   BENCH_OUT    default .build/bench-scale (one .txt per run, model.md)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=${REFCLIP_BENCH:-$root/.build/release/refclip-bench}
netns="$here/netns.sh"
hosts_list=${BENCH_HOSTS:-2 4}
links=${BENCH_LINKS:-1gbit 10gbit}
out=${BENCH_OUT:-$root/.build/bench-scale}

if [[ $(id -u) != 0 ]] || ! "$netns" check; then
  echo "bench-scale: SKIPPED — this machine does not allow network namespaces (needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN)"
  exit 0
fi
trap '"$netns" down' EXIT
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
# Host K on core K mod cores (rsh-agent.sh); mpirun must not bind the ranks itself.
export REFCLIP_HARNESS_PIN=1

# Shapes host K's outgoing traffic to RATE (every host's, so both directions of every pair are shaped).
shape() {
  local k=$1 rate=$2
  ip netns exec "rchost$k" tc qdisc del dev eth0 root 2>/dev/null || true
  [[ $rate == none ]] && return
  if [[ $delay == yes ]]; then
    ip netns exec "rchost$k" tc qdisc add dev eth0 root netem delay 0.1ms rate "$rate" limit 100000
  else
    # A burst of 4 ms at the rate (at least the kernel's tick at HZ 250), a queue of 20 ms.
    local bits=${rate%gbit}
    ip netns exec "rchost$k" tc qdisc add dev eth0 root tbf rate "$rate" burst $((bits * 500))kb latency 20ms
  fi
}

for hosts in $hosts_list; do
  "$netns" up "$hosts"
  delay=no
  ip netns exec rchost0 tc qdisc add dev eth0 root netem delay 0.1ms 2>/dev/null && delay=yes
  ip netns exec rchost0 tc qdisc del dev eth0 root 2>/dev/null || true
  host_list=$(for ((k = 0; k < hosts; k++)); do printf '198.18.0.%d:1,' $((k + 1)); done)
  for link in $links; do
    for ((k = 0; k < hosts; k++)); do shape "$k" "$link"; done
    label="$link$([[ $delay == yes ]] && echo ' + 0.1 ms' || echo ', no added delay (kernel without netem)')"
    echo "bench-scale: $hosts hosts, link $label"
    ip netns exec rchost0 mpirun -np "$hosts" --host "${host_list%,}" --bind-to none --mca plm_rsh_agent "$here/rsh-agent.sh" \
      --mca btl tcp,self --mca btl_tcp_if_include eth0 --mca oob_tcp_if_include eth0 \
      -x OPENBLAS_NUM_THREADS -x REFCLIP_BENCH_LINK="$label" ${REFCLIP_BENCH_POLL_US:+-x REFCLIP_BENCH_POLL_US} ${REFCLIP_BENCH_PARTS:+-x REFCLIP_BENCH_PARTS} ${REFCLIP_BENCH_BUCKETS:+-x REFCLIP_BENCH_BUCKETS} \
      "$bench" scale | tee "$out/scale-$hosts-$link.txt"
  done
done
python3 "$here/scale_model.py" "$out"/scale-*.txt | tee "$out/model.md"
