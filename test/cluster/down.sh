#!/usr/bin/env bash
# down.sh - tear down the test cluster built by up.sh (idempotent; safe when nothing is up).
# Kills only processes up.sh started: daemons via their pid files, and every process that is
# inside one of our namespaces (killing a node's init = pid 1 of its pid namespace kills the whole node).
# KEEP_STATE=1 keeps the state dir (logs, keys) for post-mortem. Exits 1 unless nothing is left.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
T_START=$(now)

# namespaces to remove: ours from the state dir, plus dt-* netns if present (covers CLUSTER_NODES=3)
ours=()
for n in "$HEAD" dt-node1 dt-node2 dt-node3 dt-node4 dt-node5 dt-node6 dt-node7 dt-node8 dt-node9; do
  if [ -e "/run/netns/$n" ] || [ -e "$ST/run/$n.init.pid" ]; then ours+=("$n"); fi
done

step_begin "stop slurmd, slurmctld, slurmdbd, mariadb (SIGTERM, 10s grace)"
# (pid files hold node-namespace pids: signal them from inside the node, never from the host)
stop_in() { # stop_in NODE PIDFILE...
  local n=$1 f; shift
  for f in "$@"; do node_pidfile_kill "$n" TERM "$f" || continue
    for _ in $(seq 50); do node_pidfile_alive "$n" "$f" || break; sleep 0.2; done
  done
}
for n in "${ours[@]}"; do [ "$n" != "$HEAD" ] && stop_in "$n" "$ST/run/slurmd-$n.pid"; done
stop_in "$HEAD" "$ST/run/slurmctld.pid" "$ST/run/slurmdbd.pid" "$ST/mysql/mariadbd.pid"
step_end

step_begin "kill node namespaces (${ours[*]:-none})"
for n in "${ours[@]}"; do
  p=$(node_pid "$n" || true)
  if [ -n "$p" ] && pid_alive "$p" && [ "$(ip netns identify "$p" 2>/dev/null)" = "$n" ]; then
    kill -KILL "$p"     # pid 1 of the node's pid ns: kernel SIGKILLs every process in that namespace
  fi
done
for n in "${ours[@]}"; do
  # anything still in the netns (e.g. started with plain `ip netns exec`): kill by pid
  for _ in $(seq 50); do
    left=$(ip netns pids "$n" 2>/dev/null | tr '\n' ' ')
    [ -z "${left// /}" ] && break
    kill -KILL $left 2>/dev/null; sleep 0.1
  done
  [ -n "${left// /}" ] && echo "    WARNING: processes still in netns $n: $left"
  ip netns del "$n" 2>/dev/null || true
done
step_end

step_begin "munged"
if pidfile_alive "$ST/munge/munged.pid" && [ "$(cat "/proc/$(cat "$ST/munge/munged.pid")/comm")" = munged ]; then
  p=$(cat "$ST/munge/munged.pid"); kill -TERM "$p"
  for _ in $(seq 25); do pid_alive "$p" || break; sleep 0.2; done
fi
step_end

step_begin "network + config blocks"
ip link del "$BR" 2>/dev/null || true
for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^dt-(head|node[0-9])$' || true); do
  ip link del "$l" 2>/dev/null || true
done
set_block /etc/hosts "$HOSTS_BEGIN" "$HOSTS_END" ""
if [ -f "$HOME"/.ssh/config ]; then
  set_block "$HOME"/.ssh/config "$HOSTS_BEGIN" "$HOSTS_END" ""
  [ -s "$HOME"/.ssh/config ] || rm -f "$HOME"/.ssh/config
fi
step_end

step_begin "remove state"
if [ "${KEEP_STATE:-0}" = 1 ]; then echo "    kept $ST"; else rm -rf "$ST"; fi
step_end

# verification
bad=0
for n in "${ours[@]}"; do [ -e "/run/netns/$n" ] && { echo "LEFT: netns $n"; bad=1; }; done
ip link show "$BR" >/dev/null 2>&1 && { echo "LEFT: bridge $BR"; bad=1; }
grep -q "$HOSTS_BEGIN" /etc/hosts && { echo "LEFT: /etc/hosts block"; bad=1; }
grep -qs "$HOSTS_BEGIN" "$HOME"/.ssh/config && { echo "LEFT: ~/.ssh/config block"; bad=1; }
pgrep -f -- "--socket=$ST/munge/munge.socket" >/dev/null && { echo "LEFT: munged"; bad=1; }
printf '==> cluster down in %.1fs (%s)\n' "$(awk -v a="$T_START" -v b="$(now)" 'BEGIN{print b-a}')" \
  "$([ $bad = 0 ] && echo clean || echo NOT clean)"
exit $bad
