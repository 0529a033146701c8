#!/usr/bin/env bash
# launch.sh — runs one refclip command with one rank per task: `srun --mpi=pmix` inside a Slurm
# allocation, else `mpirun` over REFCLIP_HOSTFILE. Every argument goes to refclip.
#   REFCLIP_LAUNCHER   srun or mpirun (default: srun when SLURM_JOB_ID is set)
#   REFCLIP_BIN        the refclip binary (default: refclip on PATH, else .build/release/refclip)
#   REFCLIP_HOSTFILE   mpirun's hostfile (see hostfile.example); REFCLIP_RANKS its rank count
#   REFCLIP_DRY_RUN=1  print the command instead of running it
# plus REFCLIP_THREADS_PER_RANK, REFCLIP_IFACE and REFCLIP_BLAS_CORETYPE (env.sh).
# `launch.sh --elastic MIN[:MAX] …` restarts a failed job on the hosts that still answer (elastic.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ ${1:-} == --elastic ]] && exec "$here/elastic.sh" "$@"
source "$here/env.sh"

bin=${REFCLIP_BIN:-$(command -v refclip || echo "$here/../.build/release/refclip")}
launcher=${REFCLIP_LAUNCHER:-$([[ -n "${SLURM_JOB_ID:-}" ]] && echo srun || echo mpirun)}
case $launcher in
  srun)
    command=(srun --mpi=pmix --kill-on-bad-exit=1 --cpu-bind=cores
             --ntasks="${SLURM_NTASKS:?not inside a Slurm allocation}" --cpus-per-task="$REFCLIP_BLAS_THREADS")
    ;;
  mpirun)
    hostfile=${REFCLIP_HOSTFILE:?set REFCLIP_HOSTFILE (see cluster/hostfile.example) or run inside Slurm}
    ranks=${REFCLIP_RANKS:-$(awk '!/^#/ && NF { n += ($2 ~ /^slots=/ ? substr($2, 7) : 1) } END { print n }' "$hostfile")}
    command=(mpirun -np "$ranks" --hostfile "$hostfile" --map-by "slot:PE=$REFCLIP_BLAS_THREADS" --bind-to core
             -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
    [[ -n "${OPENBLAS_CORETYPE:-}" ]] && command+=(-x OPENBLAS_CORETYPE)
    [[ -n "${REFCLIP_IFACE:-}" ]] && command+=(--mca btl_tcp_if_include "$REFCLIP_IFACE" --mca oob_tcp_if_include "$REFCLIP_IFACE")
    ;;
  *) echo "launch.sh: REFCLIP_LAUNCHER must be srun or mpirun, not '$launcher'" >&2; exit 2 ;;
esac
command+=("$bin" "$@" --blas-threads "$REFCLIP_BLAS_THREADS")

if [[ "${REFCLIP_DRY_RUN:-0}" == 1 ]]; then
  printf '%q ' "${command[@]}" | sed 's/ $//'; echo
else
  exec "${command[@]}"
fi
