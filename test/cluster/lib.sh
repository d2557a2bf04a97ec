# lib.sh - shared settings/helpers of the test cluster scripts (sourced, not run).
# Adapted from the cluster-in-a-box recipe. Names (dt-*), bridge and subnet are distest's own, so this
# cluster can coexist with another one built from the recipe on the same machine.
# Runtime state lives under <repo>/.cache/cluster (gitignored); the whole repo is visible on the nodes.

R="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$R/../.." && pwd)"
ST="${CLUSTER_STATE_DIR:-$REPO/.cache/cluster}"
# number of compute nodes (2 and 3 tested; 1..9 possible): $CLUSTER_NODES, else what up.sh last built, else 2
if [ -n "${CLUSTER_NODES:-}" ]; then NNODES=$CLUSTER_NODES
elif [ -s "$ST/nnodes" ]; then NNODES=$(cat "$ST/nnodes")
else NNODES=2; fi
case "$NNODES" in [1-9]) ;; *) echo "CLUSTER_NODES must be 1..9 (got '$NNODES')" >&2; exit 2 ;; esac
NET=10.77.1                           # private /24 (the recipe uses 10.77.0), only on our bridge + netns
BR=dt-br0                             # host-side bridge; host ("login node") is $NET.1
HEAD_IP=$NET.2                        # "dt-head" netns runs slurmctld
HEAD=dt-head
COMPUTE=(); for ((i = 1; i <= NNODES; i++)); do COMPUTE+=("dt-node$i"); done
ALLNS=("$HEAD" "${COMPUTE[@]}")
PY=/usr/bin/python3                   # Debian python (mpi4py/pytest-mpi live here, NOT in pyenv's python3)
ACCT="${CLUSTER_ACCOUNTING:-1}"        # 1: slurmdbd + MariaDB so sacct works; 0: accounting_storage/none
# keep in step with TEST_APT_PACKAGES in scripts/lib/bootstrap.mjs
PKGS=(openssh-server openssh-client openmpi-bin python3-mpi4py python3-pytest python3-pytest-mpi python3-debugpy
      slurmctld slurmd slurm-client libpmix-dev munge procps iproute2 util-linux)  # libpmix-dev: srun --mpi=pmix dlopens libpmix.so
if [ "$ACCT" = 1 ]; then PKGS+=(slurmdbd mariadb-server); fi
HOSTS_BEGIN="# BEGIN distest-test-cluster"
HOSTS_END="# END distest-test-cluster"

node_ip() { # node_ip NAME
  case "$1" in
    "$HEAD") echo "$HEAD_IP" ;;
    login) echo "$NET.1" ;;
    dt-node*) echo "$NET.$((10 + ${1#dt-node}))" ;;
  esac
}

# PID (in the host pid namespace) of a node's "init" (pid 1 of its private pid namespace)
node_pid() { cat "$ST/run/$1.init.pid" 2>/dev/null; }

node_alive() { # netns exists and its init is alive and still in that netns
  local p; p=$(node_pid "$1") || return 1
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && [ "$(ip netns identify "$p" 2>/dev/null)" = "$1" ]
}

# Run a command "on" a node: inside its net+uts+pid+mount namespaces.
node_exec() { local n=$1; shift; nsenter -t "$(node_pid "$n")" -n -u -p -m -- "$@"; }

# Daemons inside a node write pid files with pids of the NODE's pid namespace (e.g. "118"), which mean
# something else (or nothing) on the host: always read/kill them from inside the node.
node_pidfile_alive() { # node_pidfile_alive NODE PIDFILE
  node_alive "$1" && node_exec "$1" bash -c '[ -s "$1" ] && kill -0 "$(cat "$1")"' _ "$2" 2>/dev/null
}
node_pidfile_kill() { # node_pidfile_kill NODE SIGNAL PIDFILE
  node_alive "$1" && node_exec "$1" bash -c '[ -s "$2" ] && kill -"$1" "$(cat "$2")"' _ "$2" "$3" 2>/dev/null
}
# host pid of a process given its pid inside NODE's pid namespace (via NSpid in /proc/PID/status)
host_pid() { # host_pid NODE NSPID
  local p; for p in $(ip netns pids "$1"); do
    awk -v want="$2" '/^NSpid:/{ if ($NF == want && NF > 2) found=1 } END{exit !found}' "/proc/$p/status" 2>/dev/null && { echo "$p"; return 0; }
  done; return 1
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pidfile_alive() { [ -s "$1" ] && pid_alive "$(cat "$1")"; }

now() { date +%s.%N; }
STEP_T0=
step_begin() { STEP_NAME="$1"; STEP_T0=$(now); printf '==> %s\n' "$1"; }
step_end() { awk -v a="$STEP_T0" -v b="$(now)" -v n="$STEP_NAME" 'BEGIN{printf "    [%s] %.2fs\n", n, b-a}'; }

wait_for() { # wait_for TIMEOUT_S DESCRIPTION CMD... ; polls every 0.2s
  local t=$1 d=$2; shift 2
  local end=$(( $(date +%s) + t ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$end" ]; then echo "TIMEOUT waiting for: $d" >&2; return 1; fi
    sleep 0.2
  done
}

# Replace (or remove, if $3 empty) a marked block in a file, writing in place (works on bind-mounted files)
set_block() { # set_block FILE "BEGIN" "END" "CONTENT" [top]
  local f=$1 b=$2 e=$3 c=$4 top=${5:-}
  local tmp; tmp=$(mktemp)
  [ -f "$f" ] && awk -v b="$b" -v e="$e" '$0==b{skip=1;next} $0==e{skip=0;next} !skip' "$f" > "$tmp.rest" || : > "$tmp.rest"
  if [ -n "$c" ]; then
    if [ -n "$top" ]; then { printf '%s\n%s\n%s\n' "$b" "$c" "$e"; cat "$tmp.rest"; } > "$tmp"
    else { cat "$tmp.rest"; printf '%s\n%s\n%s\n' "$b" "$c" "$e"; } > "$tmp"; fi
  else cp "$tmp.rest" "$tmp"; fi
  if [ -f "$f" ] || [ -n "$c" ]; then cat "$tmp" > "$f"; fi
  rm -f "$tmp" "$tmp.rest"
}

# Environment for clients (srun/mpirun/ssh) - also written to $ST/env.sh by up.sh
client_env() {
  cat <<EOF
export SLURM_CONF=$ST/slurm/slurm.conf
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_plm_rsh_agent="ssh -F $ST/ssh/ssh_config"
export OMPI_MCA_oob_tcp_if_include=$NET.0/24 OMPI_MCA_btl_tcp_if_include=$NET.0/24
export OMPI_MCA_btl=tcp,self,vader
export CLUSTER_NODE_NAMES="${COMPUTE[*]}" CLUSTER_PY=$PY CLUSTER_STATE=$ST CLUSTER_ACCOUNTING=$ACCT
EOF
}
