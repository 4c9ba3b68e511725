#!/usr/bin/env bash
# Start a real one-node Slurm cluster (Debian's Slurm, munge, slurmdbd + MariaDB, one fake GPU) on
# this machine, so the workflow's Slurm profile can be tested through real sbatch/sacct.
# Needs root and Debian's apt. Idempotent: what already runs is left alone. Every wait is bounded.
# Exit status: 0 = cluster up and a --gpus=1 job ran; 2 = cannot run here (not root, no apt-get,
# packages not installable); 1 = something failed (the message says which daemon; its log is shown).
# Stop it with .ci/slurm/stop.sh.
# For throwaway CI machines: it overwrites /etc/slurm/{slurm,gres,slurmdbd}.conf and adds a MariaDB
# drop-in (no TCP listener). Do not run it on a machine that has a Slurm or MariaDB of its own.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
packages=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)

say() { echo "[slurm-ci] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
cannot() { say "cannot start a Slurm cluster here: $*"; exit 2; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND once a second until it succeeds.
wait_for() {
  local limit="$1" what="$2"; shift 2
  local i
  for ((i = 0; i < limit; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  say "gave up after ${limit}s waiting for $what"
  return 1
}

show_log() { [ -f "$1" ] && { say "last lines of $1:"; tail -n 25 "$1" >&2; } || true; }

[ "$(id -u)" -eq 0 ] || cannot "not root (the daemons and apt-get need root)"

# --- packages -----------------------------------------------------------------------------------
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || cannot "apt-get not found (needs Debian/Ubuntu) to install: ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -q >&2 || cannot "apt-get update failed (no network or repositories?)"
  timeout 600 apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || cannot "apt-get install ${missing[*]} failed"
fi
install -d /var/log/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /etc/slurm

# --- munge --------------------------------------------------------------------------------------
munge_ok() { timeout 5 munge -n | timeout 5 unmunge; }
if ! munge_ok >/dev/null 2>&1; then
  if [ ! -s /etc/munge/munge.key ]; then
    install -d -o munge -g munge -m 0700 /etc/munge
    mungekey --create --keyfile /etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  say "starting munged"
  # --force: a stale socket or lock from an unclean stop would otherwise stop it.
  runuser -u munge -- /usr/sbin/munged --force
  wait_for 15 "munged" munge_ok || die "munged does not answer (see /var/log/munge/munged.log)"
fi

# --- slurm.conf, gres.conf (first: sacctmgr and slurmdbd clients read slurm.conf too) -------------
# The node's real CPUs and memory, as slurmd sees them (less the host name it prints).
hardware="$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //')"
[ -n "$hardware" ] || die "slurmd -C printed nothing"
sed "s|@NODE_HARDWARE@|$hardware|" "$here/slurm.conf.in" > /etc/slurm/slurm.conf.new
mv /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf
install -m 0644 "$here/gres.conf" /etc/slurm/gres.conf

# --- MariaDB + slurmdbd (accounting, so that sacct works) -----------------------------------------
install -m 0644 "$here/mariadb.cnf" /etc/mysql/mariadb.conf.d/99-slurm-ci.cnf
db_ok() { timeout 5 mysqladmin --protocol=socket ping; }
if ! db_ok >/dev/null 2>&1; then
  say "starting MariaDB"
  timeout 90 /etc/init.d/mariadb start >&2 || { show_log /var/log/mysql/error.log; die "MariaDB did not start"; }
  wait_for 30 "MariaDB" db_ok || die "MariaDB does not answer"
fi
# Keep the password of an earlier start: a running slurmdbd still uses it.
password="$(sed -n 's/^StoragePass=//p' /etc/slurm/slurmdbd.conf 2>/dev/null || true)"
[ -n "$password" ] || password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
timeout 30 mysql --protocol=socket <<SQL || die "could not create the accounting database"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$password';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$password';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL
umask 077
sed "s|@DB_PASSWORD@|$password|" "$here/slurmdbd.conf.in" > /etc/slurm/slurmdbd.conf.new
mv /etc/slurm/slurmdbd.conf.new /etc/slurm/slurmdbd.conf
umask 022
dbd_ok() { timeout 10 sacctmgr -n list cluster; }
if ! dbd_ok >/dev/null 2>&1; then
  say "starting slurmdbd"
  /usr/sbin/slurmdbd
  wait_for 60 "slurmdbd" dbd_ok || { show_log /var/log/slurm/slurmdbd.log; die "slurmdbd does not answer"; }
fi
if ! timeout 10 sacctmgr -n -P list cluster format=cluster | grep -qx ci; then
  timeout 30 sacctmgr -i add cluster ci >&2 || die "sacctmgr add cluster ci failed"
fi

# --- slurmctld, slurmd ----------------------------------------------------------------------------
ctld_ok() { timeout 10 scontrol ping | grep -q UP; }
if ! ctld_ok >/dev/null 2>&1; then
  say "starting slurmctld"
  # -c: start with an empty queue; after an unclean stop a ghost job could hold the only GPU.
  /usr/sbin/slurmctld -c
  wait_for 30 "slurmctld" ctld_ok || { show_log /var/log/slurm/slurmctld.log; die "slurmctld does not answer"; }
fi
slurmd_running() { [ -f /run/slurmd.pid ] && kill -0 "$(cat /run/slurmd.pid)"; }
if ! slurmd_running 2>/dev/null; then
  say "starting slurmd"
  # -N: the node is called localhost in slurm.conf, whatever this host is called.
  /usr/sbin/slurmd -N localhost
fi
node_state() { timeout 10 sinfo -h -n localhost -o %T 2>/dev/null | tr -d '*~#$@^-' ; }
node_usable() { case "$(node_state)" in idle|mixed|allocated|completing) return 0 ;; *) return 1 ;; esac; }
for ((i = 0; i < 30; i++)); do
  node_usable && break
  case "$(node_state)" in
    down*|drain*) timeout 10 scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 1
done
node_usable || { show_log /var/log/slurm/slurmd.log; show_log /var/log/slurm/slurmctld.log;
                 die "node localhost is '$(node_state)', not idle"; }

# --- smoke test: one GPU job through the scheduler ----------------------------------------------------
# --quiet: a busy node makes srun say "queued and waiting for resources"; only the answer counts.
gpu="$(timeout 60 srun --quiet -N1 -n1 -t 1 --gpus=1 sh -c 'echo $CUDA_VISIBLE_DEVICES' 2>&1)" \
  || { show_log /var/log/slurm/slurmctld.log; die "srun --gpus=1 failed: $gpu"; }
[ "$gpu" = "0" ] || die "srun --gpus=1 printed '$gpu', expected CUDA_VISIBLE_DEVICES=0"
say "cluster 'ci' is up: partition debug, node localhost ($hardware), 1 fake GPU"
