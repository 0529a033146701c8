#!/usr/bin/env bash
# common.sh — what the namespace-host tests share (sourced by test-cluster.sh and test-elastic.sh):
# `harness_start NAME HOSTS` skips (saying so) where the machine allows no network namespaces, else
# makes HOSTS hosts (netns.sh), a scratch directory $work removed on exit with every namespace, and a
# tiny synthetic dataset; `train_args` gives the tiny teacher's arguments; `mpirun_args` the mpirun
# settings that run ranks on the namespace hosts over TCP; `losses` a run's logged losses.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${REFCLIP_BIN:-$root/.build/release/refclip}
netns="$here/netns.sh"

harness_start() {
  local name=$1 hosts=$2
  if [[ $(id -u) != 0 ]] || ! "$netns" check; then
    echo "$name: SKIPPED — this machine does not allow network namespaces (needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN)"
    exit 0
  fi
  work=$(mktemp -d "/tmp/refclip-$name.XXXXXX")
  trap 'pkill -f "$work" 2>/dev/null || true; "$netns" down; rm -rf "$work"' EXIT
  "$netns" up "$hosts"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
  # Open MPI 4.1's daemons share the hardware topology through a segment mapped at the largest hole of
  # their address space; a daemon started inside a namespace host once crashed writing it (segfault in
  # hwloc_shmem_topology_write, test-elastic). The ranks run unbound, so the daemons need not share it.
  export OMPI_MCA_rtc_hwloc_vmhole=none
  started=$SECONDS
  "$bin" synth --out "$work/data" --set images.train=24 --set images.val=8 --set images.testA=4 --set images.testB=4 \
    --set detector.channels=4,6,8 --set storage.images_per_shard=8 > "$work/synth.log"
}

# The tiny teacher of the command-line tests, run NAME with extra arguments.
train_args() {
  local name=$1; shift
  echo train --config "$root/configs/synthetic-teacher.yaml" \
    --set "data.annotations=$work/data/annotations.json" --set "data.features=$work/data/features" \
    --set "data.word_vectors=$work/data/word_vectors.txt" --set "output.dir=$work/runs" --set "name=$name" \
    --set model.hidden=16 --set model.ffn=24 --set model.fusion_hidden=12 --set train.batch=8 --set train.log_every=1 \
    --set train.eval_batch=5 --set train.eps=1e-6 --blas-threads 1 "$@"
}

# mpirun's settings for the namespace hosts: rsh-agent.sh as its ssh, TCP on eth0 only. The ranks'
# watchdog ends them when a link is cut; mpirun then exits once OpenMPI's keepalive declares the cut
# host's daemon lost (about 26 s after the cut here, set above the watchdog so the ranks speak first).
mpirun_args="--mca plm_rsh_agent $here/rsh-agent.sh --mca btl tcp,self --mca btl_tcp_if_include eth0 --mca oob_tcp_if_include eth0 \
--mca oob_tcp_keepalive_time 20 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3"

# The losses run NAME logged, in order.
losses() { python3 -c 'import json, sys; print(" ".join(repr(json.loads(l)["loss"]) for l in open(sys.argv[1]) if "\"step\"" in l and "\"loss\"" in l))' "$work/runs/$1/metrics.jsonl"; }
