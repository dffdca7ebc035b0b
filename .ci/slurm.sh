#!/usr/bin/env bash
# .ci/slurm.sh - install, configure and start a single-node SLURM cluster on
# localhost (Debian 12 / bookworm, packages slurm-wlm + munge), without systemd.
#
# Usage:  sudo ./start_slurm.sh [start|stop|status]     (default: start)
#
# Idempotent: if the node is already up and idle/mixed/allocated, "start" exits 0
# immediately; otherwise it (re)starts only the daemons it started itself (found
# via pid files under $SLURM_BASE/run). Bounded: every wait and every probe has a
# timeout; the script fails (exit 1, message + log tails on stderr) within about
# TOTAL_TIMEOUT+15 seconds (default TOTAL_TIMEOUT=300), apt-get included.
# Needs root. No systemd, no cgroups, no ps/procps needed.
#
# Env overrides:
#   SLURM_BASE       state/spool/log/pid dir        (default /tmp/slurmtest)
#   SLURM_CONF_FILE  where slurm.conf is written     (default /etc/slurm/slurm.conf,
#                    the path the Debian clients read without SLURM_CONF)
#   TOTAL_TIMEOUT    overall time budget in seconds  (default 300)
#   APT_PACKAGES     packages to install             (default "slurm-wlm munge")
set -euo pipefail

SLURM_BASE=${SLURM_BASE:-/tmp/nbnumba-slurm}
SLURM_CONF_FILE=${SLURM_CONF_FILE:-/etc/slurm/slurm.conf}
TOTAL_TIMEOUT=${TOTAL_TIMEOUT:-300}
APT_PACKAGES=${APT_PACKAGES:-slurm-wlm munge}
NODE=$(hostname -s 2>/dev/null || uname -n | cut -d. -f1)
START_TS=$(date +%s)

log()  { echo "[start_slurm $(( $(date +%s) - START_TS ))s] $*" >&2; }
die()  {
  echo "[start_slurm] ERROR: $*" >&2
  for f in "$SLURM_BASE/log/slurmctld.log" "$SLURM_BASE/log/slurmd.log" /var/log/munge/munged.log; do
    [ -r "$f" ] && { echo "---- last lines of $f ----" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}
left() { local l=$(( TOTAL_TIMEOUT - ($(date +%s) - START_TS) )); (( l > 1 )) && echo "$l" || echo 1; }
# proc_alive <pid>: running and not a zombie (a non-reaping PID 1, as in many
# containers, leaves daemonized processes as zombies after they exit)
proc_alive() {
  local line st
  read -r line 2>/dev/null </proc/"$1"/stat || return 1
  st=${line##*) }; st=${st%% *}
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
pid_alive() { local p; p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && proc_alive "$p"; }
# wait_for <seconds> <description> <pidfile|-> <command...>: poll command (each
# try limited to 5 s) until it succeeds; die on timeout, or if the daemon whose
# pid file is given has written its pid file and is no longer alive.
wait_for() {
  local secs=$1 what=$2 watch=$3; shift 3
  local end=$(( $(date +%s) + secs ))
  while (( $(date +%s) < end )); do
    if timeout 5 "$@" >/dev/null 2>&1; then return 0; fi
    if [ "$watch" != - ] && [ -s "$watch" ] && ! pid_alive "$watch"; then
      sleep 0.5; pid_alive "$watch" || die "$(basename "$watch" .pid) exited while waiting for: $what"
    fi
    sleep 0.5
  done
  die "timed out after ${secs}s waiting for: $what"
}
# stop_pidfile <pidfile> <grace-seconds>: wait grace for exit, then TERM, then KILL
stop_pidfile() {
  local f=$1 grace=$2 i pid
  pid=$(cat "$f" 2>/dev/null) || pid=""
  if [ -n "$pid" ] && proc_alive "$pid"; then
    for ((i = 0; i < grace * 2; i++)); do proc_alive "$pid" || break; sleep 0.5; done
    proc_alive "$pid" && kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 10; i++)); do proc_alive "$pid" || break; sleep 0.5; done
    proc_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
  return 0
}

node_state() { timeout 5 sinfo -h -N -n "$NODE" -o '%t' 2>/dev/null | head -n1; }
node_ready() { case "$(node_state)" in idle|mix|alloc) return 0;; *) return 1;; esac; }

do_stop() {
  # 'scontrol shutdown' asks slurmctld to stop itself and all slurmd's cleanly.
  if command -v scontrol >/dev/null && [ -f "$SLURM_CONF_FILE" ] \
     && pid_alive "$SLURM_BASE/run/slurmctld.pid"; then
    timeout 10 scontrol shutdown >/dev/null 2>&1 || true
  fi
  stop_pidfile "$SLURM_BASE/run/slurmctld.pid" 10
  stop_pidfile "$SLURM_BASE/run/slurmd.pid" 10
  stop_pidfile /run/munge/munged.pid 0
  log "stopped"
}

case "${1:-start}" in
  stop)   do_stop; exit 0 ;;
  status) timeout 5 sinfo 2>&1 || true; node_ready && exit 0 || exit 1 ;;
  start)  ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac

[ "$(id -u)" -eq 0 ] || die "must run as root (need apt-get, /etc/slurm, munge key)"

# ---------------------------------------------------------------- fast path
if command -v sinfo >/dev/null && [ -f "$SLURM_CONF_FILE" ] \
   && pid_alive "$SLURM_BASE/run/slurmctld.pid" && pid_alive "$SLURM_BASE/run/slurmd.pid" \
   && node_ready; then
  log "SLURM already running, node $NODE is $(node_state)"
  exit 0
fi

# ---------------------------------------------------------------- 1. install
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || die "apt-get not found (not Debian/Ubuntu?)"
  log "installing: $APT_PACKAGES"
  export DEBIAN_FRONTEND=noninteractive
  mkdir -p "$SLURM_BASE/log"
  timeout "$(left)" apt-get update -qq >"$SLURM_BASE/log/apt.log" 2>&1 \
    || die "apt-get update failed: $(tail -n 5 "$SLURM_BASE/log/apt.log")"
  # shellcheck disable=SC2086
  timeout "$(left)" apt-get install -y -qq $APT_PACKAGES >>"$SLURM_BASE/log/apt.log" 2>&1 \
    || die "apt-get install failed: $(tail -n 5 "$SLURM_BASE/log/apt.log")"
  log "install done"
fi

# Stop anything half-started by a previous run (ours only, by pid file).
stop_pidfile "$SLURM_BASE/run/slurmctld.pid" 0
stop_pidfile "$SLURM_BASE/run/slurmd.pid" 0

# ---------------------------------------------------------------- 2. munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating munge key"
  mkdir -p /etc/munge
  if command -v mungekey >/dev/null; then
    mungekey --create --keyfile=/etc/munge/munge.key --force
  else
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  fi
fi
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
chmod 700 /etc/munge /var/log/munge; chmod 711 /var/lib/munge; chmod 755 /run/munge
chmod 400 /etc/munge/munge.key
if ! (timeout 5 munge -n | timeout 5 unmunge) >/dev/null 2>&1; then
  log "starting munged"
  rm -f /run/munge/munged.pid
  # munged forks into the background itself; run it as the munge user.
  runuser -u munge -- /usr/sbin/munged || die "munged failed to start"
  wait_for 15 "munge credential round trip" /run/munge/munged.pid bash -c 'munge -n | unmunge'
fi

# ---------------------------------------------------------------- 3. config
NCPU=$(nproc)
HW=$(slurmd -C 2>/dev/null | head -n1) || true
MEM=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$HW")
[ -n "$MEM" ] || die "could not read RealMemory from 'slurmd -C' (got: $HW)"
# Use the hardware topology from 'slurmd -C' only if it agrees with nproc
# (in a cpuset-limited container nproc may be smaller: then give CPUs only).
TOPO=""
if [ "$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$HW")" = "$NCPU" ]; then
  TOPO=$(grep -o 'Boards=[0-9]* SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' <<<"$HW" || true)
fi
mkdir -p "$SLURM_BASE"/{state,spool,log,run} "$(dirname "$SLURM_CONF_FILE")"
chmod 755 "$SLURM_BASE"

cat >"$SLURM_CONF_FILE.new" <<EOF
# Single-node localhost SLURM, generated by $0
ClusterName=ci
SlurmctldHost=$NODE(127.0.0.1)
# Daemons run as root: no permission juggling on $SLURM_BASE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
# No cgroups / no systemd needed
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$SLURM_BASE/state
SlurmdSpoolDir=$SLURM_BASE/spool
SlurmctldPidFile=$SLURM_BASE/run/slurmctld.pid
SlurmdPidFile=$SLURM_BASE/run/slurmd.pid
SlurmctldLogFile=$SLURM_BASE/log/slurmctld.log
SlurmdLogFile=$SLURM_BASE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Quick turnaround for CI
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0

NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$NCPU $TOPO RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
mv -f "$SLURM_CONF_FILE.new" "$SLURM_CONF_FILE"
chmod 644 "$SLURM_CONF_FILE"
export SLURM_CONF="$SLURM_CONF_FILE"

# ---------------------------------------------------------------- 4. daemons
log "starting slurmctld (node $NODE, CPUs=$NCPU, RealMemory=$MEM)"
# -i: ignore unreadable state left by an earlier, different config
slurmctld -i -f "$SLURM_CONF_FILE" || die "slurmctld failed to start"
wait_for "$(( $(left) < 30 ? $(left) : 30 ))" "slurmctld to answer (scontrol ping)" \
  "$SLURM_BASE/run/slurmctld.pid" bash -c 'scontrol ping | grep -q "is UP"'

log "starting slurmd"
slurmd -f "$SLURM_CONF_FILE" -N "$NODE" || die "slurmd failed to start"

# ---------------------------------------------------------------- 5. wait idle
end=$(( $(date +%s) + $(left) ))
resumed=0
while :; do
  st=$(node_state || true)
  case "$st" in
    idle|mix|alloc) break ;;
    down*|drain*|drng*|inval*)
      if (( resumed == 0 )); then
        log "node state '$st', trying to resume"
        timeout 5 scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
        resumed=1
      fi ;;
  esac
  (( $(date +%s) < end )) || die "node $NODE not idle in time (state='$st'; reason: $(timeout 5 sinfo -h -R -n "$NODE" 2>/dev/null))"
  pid_alive "$SLURM_BASE/run/slurmd.pid" || { sleep 1; pid_alive "$SLURM_BASE/run/slurmd.pid"; } \
    || die "slurmd died"
  sleep 0.5
done
log "SLURM ready: node $NODE is $(node_state)"
timeout 5 sinfo >&2 || true
