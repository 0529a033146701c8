#!/usr/bin/env bash
# rsh-agent.sh — OpenMPI's plm_rsh_agent for the namespace hosts: instead of ssh HOST COMMAND, runs
# COMMAND in the namespace of HOST (198.18.0.K is rchost(K−1)). OpenMPI may pass options before the
# host; they are ignored.
set -euo pipefail
while [[ "${1:-}" == -* ]]; do shift; done
host=${1:?no host}; shift
last=${host##*.}
exec ip netns exec "rchost$((last - 1))" /bin/sh -c "$*"
