#!/usr/bin/env bash
# rsh-agent.sh — OpenMPI's plm_rsh_agent for the namespace hosts: instead of ssh HOST COMMAND, runs
# COMMAND in the namespace of HOST (198.18.0.K is rchost(K−1)). OpenMPI may pass options before the
# host; they are ignored. With REFCLIP_HARNESS_PIN=1 host K runs on core K mod (cores), so that the
# hosts do not share one core (each host's launcher would otherwise bind its first rank to core 0).
set -euo pipefail
while [[ "${1:-}" == -* ]]; do shift; done
host=${1:?no host}; shift
last=${host##*.}
pin=()
[[ ${REFCLIP_HARNESS_PIN:-0} == 1 ]] && pin=(taskset -c $(((last - 1) % $(nproc))))
exec "${pin[@]}" ip netns exec "rchost$((last - 1))" /bin/sh -c "$*"
