#!/usr/bin/env bash
# netns.sh — N test "hosts" on one machine for multi-host MPI tests: network namespaces rchost0…
# joined by the bridge rcbr0 through veth pairs, addresses 198.18.0.1… (RFC 2544 benchmark range),
# no default route, so nothing leaves the machine. Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN).
#   netns.sh up N       create hosts 0…N−1 (replacing leftovers of an earlier run)
#   netns.sh down       remove every host and the bridge
#   netns.sh link K up|down   connect or cut host K's cable
#   netns.sh check      exit 0 when this machine allows network namespaces
set -euo pipefail

address() { echo "198.18.0.$(($1 + 1))"; }

down() {
  # A namespace lives on while a process runs in it (an orphaned orted after a cut link): end them first.
  for ns in $(ip netns list 2>/dev/null | awk '/^rchost[0-9]+/ { print $1 }'); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns"
  done
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^rcveth[0-9]+/ { sub(/@.*/, "", $2); print $2 }'); do ip link del "$link" 2>/dev/null || true; done
  ip link del rcbr0 2>/dev/null || true
}

case "${1:-}" in
  up)
    n=${2:?usage: netns.sh up N}
    down
    ip link add rcbr0 type bridge
    ip link set rcbr0 up
    for ((k = 0; k < n; k++)); do
      ip netns add "rchost$k"
      ip link add "rcveth$k" type veth peer name eth0 netns "rchost$k"
      ip link set "rcveth$k" master rcbr0 up
      ip -n "rchost$k" addr add "$(address "$k")/24" dev eth0
      ip -n "rchost$k" link set eth0 up
      ip -n "rchost$k" link set lo up
      # Give up on an unanswered TCP connection after seconds, not the default quarter of an hour, so
      # mpirun ends once the ranks have (a test of a cut cable should not wait for the kernel).
      ip netns exec "rchost$k" sysctl -q -w net.ipv4.tcp_retries2=4
    done
    ;;
  down) down ;;
  link) ip link set "rcveth${2:?host}" "${3:?up or down}" ;;
  check)  # everything `up` needs: a namespace, a bridge, a veth pair into the namespace, a sysctl in it
    command -v ip > /dev/null || exit 1
    ok=0
    ip netns add rcprobe 2>/dev/null && ip link add rcbrprobe type bridge 2>/dev/null \
      && ip link add rcvethprobe type veth peer name eth0 netns rcprobe 2>/dev/null \
      && ip netns exec rcprobe sysctl -q -w net.ipv4.tcp_retries2=4 2>/dev/null || ok=1
    ip link del rcvethprobe 2>/dev/null || true
    ip link del rcbrprobe 2>/dev/null || true
    ip netns del rcprobe 2>/dev/null || true
    exit $ok
    ;;
  *) echo "usage: netns.sh up N | down | link K up|down | check" >&2; exit 2 ;;
esac
