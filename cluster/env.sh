#!/usr/bin/env bash
# env.sh — the environment every refclip rank needs on a cluster node; sourced by launch.sh.
#   REFCLIP_THREADS_PER_RANK  OpenBLAS threads per rank (default: Slurm's cpus-per-task, else 1)
#   REFCLIP_IFACE             network interface for MPI traffic, e.g. eth0 or ib0 (default: OpenMPI's choice)
#   REFCLIP_BLAS_CORETYPE     one OpenBLAS kernel for every node, e.g. HASWELL (default: each node's best;
#                             see README.md, "BLAS kernels")

threads=${REFCLIP_THREADS_PER_RANK:-${SLURM_CPUS_PER_TASK:-1}}
export OPENBLAS_NUM_THREADS=$threads   # each rank owns its cores; no oversubscription by BLAS threads
export OMP_NUM_THREADS=$threads
export REFCLIP_BLAS_THREADS=$threads
if [[ -n "${REFCLIP_BLAS_CORETYPE:-}" ]]; then
  export OPENBLAS_CORETYPE=$REFCLIP_BLAS_CORETYPE   # refclip keeps a kernel the user names
fi
if [[ -n "${REFCLIP_IFACE:-}" ]]; then
  export OMPI_MCA_btl_tcp_if_include=$REFCLIP_IFACE   # data plane
  export OMPI_MCA_oob_tcp_if_include=$REFCLIP_IFACE   # OpenMPI's own wire-up
fi
# A node that drops off the network: the ranks' watchdog (runtime.watchdog_seconds) ends them, and
# mpirun/orted notice the lost daemon through TCP keepalive after about 60 + 3 × 10 s (default ~8 min).
export OMPI_MCA_oob_tcp_keepalive_time=${OMPI_MCA_oob_tcp_keepalive_time:-60}
export OMPI_MCA_oob_tcp_keepalive_intvl=${OMPI_MCA_oob_tcp_keepalive_intvl:-10}
export OMPI_MCA_oob_tcp_keepalive_probes=${OMPI_MCA_oob_tcp_keepalive_probes:-3}
if [[ $(id -u) == 0 ]]; then   # containers often run as root; mpirun refuses it unless told
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
