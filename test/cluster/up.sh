#!/usr/bin/env bash
# up.sh - build distest's test cluster on one Debian 12 machine (idempotent: re-running repairs).
#   login node = this host (10.77.1.1 on bridge dt-br0)
#   dt-head    = netns+uts+pid+mnt namespace (10.77.1.2) running slurmctld (+ slurmdbd, mariadb)
#   dt-nodeI   = namespaces (10.77.1.1I) running sshd + slurmd, hostname dt-nodeI
#   munged     = one daemon on the host with a private key/socket under the state dir
# Usage: [CLUSTER_NODES=3] [CLUSTER_ACCOUNTING=0] test/cluster/up.sh   then: source .cache/cluster/env.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
T_START=$(now)
mkdir -p "$ST"/{run,log,ssh,slurm,munge}
echo "$NNODES" > "$ST/nnodes"

# ---------------------------------------------------------------- 1. packages
step_begin "apt packages"
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "    installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  [ "$(id -u)" = 0 ] || { echo "missing packages; run: sudo apt-get install ${missing[*]}" >&2; exit 1; }
  apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" > "$ST/log/apt.log" 2>&1 || {
    apt-get update > "$ST/log/apt-update.log" 2>&1
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" > "$ST/log/apt.log" 2>&1; }
else
  echo "    all present"
fi
step_end

# ---------------------------------------------------------------- 2. network
step_begin "network: bridge $BR + netns ${ALLNS[*]}"
if ! ip link show "$BR" >/dev/null 2>&1; then ip link add "$BR" type bridge; fi
sysctl -qw "net.ipv6.conf.$BR.disable_ipv6=1" || true
ip addr replace "$NET.1/24" dev "$BR"
ip link set "$BR" up
for n in "${ALLNS[@]}"; do
  [ -e "/run/netns/$n" ] || ip netns add "$n"
  if ! ip link show "cr-$n" >/dev/null 2>&1; then
    ip link add "cr-$n" type veth peer name eth0 netns "$n"
  fi
  sysctl -qw "net.ipv6.conf.cr-$n.disable_ipv6=1" || true
  ip link set "cr-$n" master "$BR" up
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || true
  ip -n "$n" addr replace "$(node_ip "$n")/24" dev eth0
  ip -n "$n" link set lo up
  ip -n "$n" link set eth0 up
done
# hostnames for everyone (host and nodes share /etc/hosts; written in place, marked block)
hb="$NET.1 login"; for n in "${ALLNS[@]}"; do hb+=$'\n'"$(node_ip "$n") $n"; done
set_block /etc/hosts "$HOSTS_BEGIN" "$HOSTS_END" "$hb"
step_end

# ---------------------------------------------------------------- 3. node namespaces
# Each node gets a long-lived "init" (node-init.sh: pid 1 of a new pid ns) inside its netns, with its own
# hostname (uts ns), /proc, node-local /tmp and /dev/shm (mount ns). Daemons are started in it with nsenter (node_exec).
# NB: enter the netns with `nsenter --net=` and NOT `ip netns exec`: the latter remounts /sys, which hides
# /sys/fs/cgroup, and slurmd then dies with "No filesystem mounted on /sys/fs/cgroup".
step_begin "node namespaces (uts+pid+mnt inside each netns)"
# ~/.bashrc as seen INSIDE the nodes (bind-mounted by node-init.sh; the host's file is untouched): the
# host's root .bashrc runs `pyenv init` etc., which made every `ssh nodeX cmd` take 1-3 s and put pyenv's
# python3 (no mpi4py) first on PATH.
cat > "$ST/node.bashrc" <<BASHRC
# distest test cluster node environment (CLUSTER_NODE_BASHRC=host at up.sh time keeps the host's .bashrc)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
BASHRC
for n in "${ALLNS[@]}"; do
  if node_alive "$n"; then continue; fi
  rm -f "$ST/run/$n.init.pid" "$ST/run/$n.unshare.pid"
  setsid -f bash -c 'echo $$ > "$1"; exec nsenter --net="/run/netns/$2" unshare --uts --pid --mount --fork --mount-proc --kill-child -- bash "$3" "$2"' \
    _ "$ST/run/$n.unshare.pid" "$n" "$R/node-init.sh" </dev/null >"$ST/log/$n.init.log" 2>&1
  wait_for 10 "unshare pid for $n" test -s "$ST/run/$n.unshare.pid"
  up=$(cat "$ST/run/$n.unshare.pid")
  wait_for 10 "init of $n" pgrep -P "$up"
  pgrep -P "$up" > "$ST/run/$n.init.pid"
  wait_for 10 "hostname of $n" bash -c "[ \"\$(nsenter -t $(node_pid "$n") -u hostname)\" = $n ]"
done
step_end

# ---------------------------------------------------------------- 4. ssh
step_begin "sshd on ${COMPUTE[*]} (key auth, known_hosts)"
S=$ST/ssh
mkdir -p "$S/hostkeys" /run/sshd
[ -f "$S/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C distest-test-cluster -f "$S/id_ed25519"
cp "$S/id_ed25519.pub" "$S/authorized_keys"
: > "$S/known_hosts.new"
for n in "${COMPUTE[@]}"; do
  [ -f "$S/hostkeys/$n" ] || ssh-keygen -q -t ed25519 -N '' -C "$n" -f "$S/hostkeys/$n"
  echo "$n,$(node_ip "$n") $(cut -d' ' -f1,2 "$S/hostkeys/$n.pub")" >> "$S/known_hosts.new"
  cat > "$S/sshd_config.$n" <<EOF
Port 22
ListenAddress $(node_ip "$n")
ListenAddress 127.0.0.1
HostKey $S/hostkeys/$n
PidFile $ST/run/sshd-$n.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile $S/authorized_keys
StrictModes no
UsePAM no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 64:30:128
MaxSessions 64
AcceptEnv LANG LC_* OMPI_* PMIX_* SLURM_*
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
done
mv "$S/known_hosts.new" "$S/known_hosts"
cat > "$S/ssh_config" <<EOF
# only our own node names and subnet: every other host keeps the machine's normal ssh settings
Host ${COMPUTE[*]} $NET.*
  User root
  IdentityFile $S/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $S/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 5
  LogLevel ERROR
EOF
# make plain "ssh dt-node1" work for root everywhere (host and nodes share /root). An Include whose file is
# gone (state removed without down.sh) matches nothing, so it never breaks ssh to other hosts.
mkdir -p -m 700 "$HOME"/.ssh
set_block "$HOME"/.ssh/config "$HOSTS_BEGIN" "$HOSTS_END" "Include $S/ssh_config" top
chmod 600 "$HOME"/.ssh/config
for n in "${COMPUTE[@]}"; do
  if node_pidfile_alive "$n" "$ST/run/sshd-$n.pid"; then continue; fi
  node_exec "$n" /usr/sbin/sshd -f "$S/sshd_config.$n" -E "$ST/log/sshd-$n.log"
done
for n in "${COMPUTE[@]}"; do
  wait_for 15 "ssh $n" bash -c "[ \"\$(ssh $n hostname)\" = $n ]"
done
step_end

# ---------------------------------------------------------------- 5. munge
step_begin "munged (private key + socket)"
M=$ST/munge
chmod 755 "$M"   # munged insists the socket dir is o+x
[ -f "$M/munge.key" ] || { dd if=/dev/urandom of="$M/munge.key" bs=1024 count=1 status=none; chmod 400 "$M/munge.key"; }
if ! pidfile_alive "$M/munged.pid"; then
  rm -f "$M/munge.socket" "$M/munge.socket.lock"
  munged --socket="$M/munge.socket" --key-file="$M/munge.key" --log-file="$ST/log/munged.log" \
         --pid-file="$M/munged.pid" --seed-file="$M/munged.seed"
fi
wait_for 10 "munge roundtrip" bash -c "munge -n --socket=$M/munge.socket | unmunge --socket=$M/munge.socket"
step_end

# ---------------------------------------------------------------- 6. slurm
SL=$ST/slurm
mkdir -p "$SL/ctld"
export SLURM_CONF=$SL/slurm.conf
if [ "$ACCT" = 1 ]; then
  ACCT_LINES="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$HEAD_IP
AccountingStoragePort=6819
# for slurmdbd connections Slurm ignores AuthInfo; AccountingStoragePass names the munge socket instead
AccountingStoragePass=$M/munge.socket"
else
  ACCT_LINES="AccountingStorageType=accounting_storage/none"
fi

step_begin "slurm config"
nodelines=""; for n in "${COMPUTE[@]}"; do
  # 4 CPUs per node (more than the machine has; config_overrides allows it) so that two 2-node, 4-task
  # allocations fit at once: one created by distest and one created outside it.
  nodelines+="NodeName=$n NodeAddr=$(node_ip "$n") CPUs=4 Sockets=1 CoresPerSocket=4 ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN"$'\n'
done
cat > "$SL/slurm.conf.new" <<CONF
# generated by test/cluster/up.sh
ClusterName=distest
SlurmctldHost=$HEAD($HEAD_IP)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$M/munge.socket
StateSaveLocation=$SL/ctld
SlurmdSpoolDir=$SL/spool-%n
SlurmctldPidFile=$ST/run/slurmctld.pid
SlurmdPidFile=$ST/run/slurmd-%n.pid
SlurmctldLogFile=$ST/log/slurmctld.log
SlurmdLogFile=$ST/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
$ACCT_LINES
JobCompType=jobcomp/filetxt
JobCompLoc=$SL/jobcomp.txt
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
InactiveLimit=0
MinJobAge=600
KillWait=3
Waittime=0
$nodelines
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# (no /etc/slurm/slurm.conf symlink, unlike the recipe: clients use SLURM_CONF from env.sh, so a real or
# recipe Slurm configuration on this machine is never touched)
CONF_CHANGED=0
if ! cmp -s "$SL/slurm.conf.new" "$SL/slurm.conf"; then
  [ -f "$SL/slurm.conf" ] && CONF_CHANGED=1
  mv "$SL/slurm.conf.new" "$SL/slurm.conf"
else rm -f "$SL/slurm.conf.new"; fi
client_env > "$ST/env.sh"
step_end

if [ "$ACCT" = 1 ]; then
  step_begin "mariadb on $HEAD (accounting DB; 127.0.0.1:3306 inside its netns only)"
  D=$ST/mysql; mkdir -p "$D"
  if [ ! -d "$D/data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$D/data" --user=root --auth-root-authentication-method=socket \
      --skip-test-db > "$ST/log/mariadb-install.log" 2>&1
  fi
  if ! node_pidfile_alive "$HEAD" "$D/mariadbd.pid"; then
    node_exec "$HEAD" bash -c "setsid /usr/sbin/mariadbd --no-defaults --datadir=$D/data --socket=$D/mysqld.sock \
      --pid-file=$D/mariadbd.pid --bind-address=127.0.0.1 --port=3306 --user=root --skip-name-resolve \
      --innodb-buffer-pool-size=64M --log-error=$ST/log/mariadb.log </dev/null >/dev/null 2>&1 &"
  fi
  wait_for 60 "mariadb" mariadb --socket="$D/mysqld.sock" -e 'select 1'
  mariadb --socket="$D/mysqld.sock" -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmpw';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
  step_end

  step_begin "slurmdbd on $HEAD"
  cat > "$SL/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$M/munge.socket
DbdHost=$HEAD
DbdAddr=$HEAD_IP
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
PidFile=$ST/run/slurmdbd.pid
LogFile=$ST/log/slurmdbd.log
DebugLevel=info
CONF
  chmod 600 "$SL/slurmdbd.conf"          # slurmdbd refuses a world-readable config
  if ! node_pidfile_alive "$HEAD" "$ST/run/slurmdbd.pid"; then
    node_exec "$HEAD" /usr/sbin/slurmdbd      # reads slurmdbd.conf next to $SLURM_CONF (exported above)
  fi
  wait_for 60 "slurmdbd" sacctmgr -n show cluster
  sacctmgr -n -P show cluster format=cluster | grep -qx distest || sacctmgr -i add cluster distest > /dev/null
  step_end
fi

if [ "$CONF_CHANGED" = 1 ]; then
  step_begin "slurm.conf changed: stopping running slurmctld/slurmd"
  for n in "${ALLNS[@]}"; do
    f="$ST/run/slurmd-$n.pid"; [ "$n" = "$HEAD" ] && f="$ST/run/slurmctld.pid"
    node_pidfile_kill "$n" TERM "$f" || true
    for _ in $(seq 50); do node_pidfile_alive "$n" "$f" || break; sleep 0.2; done
  done
  step_end
fi

step_begin "slurmctld on $HEAD"
if ! node_pidfile_alive "$HEAD" "$ST/run/slurmctld.pid"; then
  node_exec "$HEAD" /usr/sbin/slurmctld -f "$SL/slurm.conf"
fi
wait_for 30 "slurmctld ping" bash -c "scontrol ping | grep -q 'is UP'"
step_end

step_begin "slurmd on ${COMPUTE[*]}"
for n in "${COMPUTE[@]}"; do
  if node_pidfile_alive "$n" "$ST/run/slurmd-$n.pid"; then continue; fi
  mkdir -p "$SL/spool-$n"
  node_exec "$n" /usr/sbin/slurmd -f "$SL/slurm.conf"
done
# allocated nodes count as up: a re-run (repair) must not wait for jobs of an earlier run to end
nodes_up() { [ "$(sinfo -h -N -t idle,mix,alloc -o '%N' | sort -u | wc -l)" -eq "${#COMPUTE[@]}" ]; }
wait_for 60 "all nodes up" nodes_up || { sinfo -N -l; tail -20 "$ST/log/slurmctld.log"; exit 1; }
sinfo -N -o '    %N %t %c %P'
step_end

printf '==> cluster up in %.1fs (%d nodes, accounting=%s). Use:  source %s/env.sh\n' \
  "$(awk -v a="$T_START" -v b="$(now)" 'BEGIN{print b-a}')" "${#COMPUTE[@]}" "$ACCT" "$ST"
