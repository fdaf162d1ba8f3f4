#!/usr/bin/env bash
# Start a real single-node Slurm (munge + slurmctld + slurmd) for the tests.
# Idempotent: does nothing when `sinfo` already answers.  Needs root and the
# Debian packages slurm-wlm slurmctld slurmd slurm-client munge.
# The cluster has 4 licences named fluent (Licenses=fluent:4), for the tests of
# the recorder's licence columns; a slurm.conf written before that gets the line.
set -euo pipefail
conf=/etc/slurm/slurm.conf
if [ -s "$conf" ] && ! grep -q '^Licenses=' "$conf"; then
  echo 'Licenses=fluent:4' >> "$conf"
  # a running slurmctld reads it on reconfigure; a stopped one when it starts below
  if pgrep -x slurmctld >/dev/null; then timeout 10 scontrol reconfigure >/dev/null 2>&1 || true; fi
fi
if timeout 5 sinfo -h >/dev/null 2>&1; then exit 0; fi
mkdir -p /etc/slurm /run/munge /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
if [ ! -s "$conf" ]; then
  cores=$(nproc); mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048 ))
  cat > "$conf" <<CONF
ClusterName=paratune-ci
SlurmctldHost=localhost
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=${cores} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
Licenses=fluent:4
CONF
fi
[ -s /etc/munge/munge.key ] || { mkdir -p /etc/munge; dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; }
chown munge:munge /etc/munge/munge.key /run/munge; chmod 400 /etc/munge/munge.key
chown slurm:slurm /var/spool/slurmctld /var/log/slurm /run/slurm
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
sleep 1
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd -N localhost
for _ in $(seq 1 30); do
  if sinfo -h -o %T 2>/dev/null | grep -qE 'idle|mixed|alloc'; then exit 0; fi
  sleep 1
done
echo "slurm did not come up: $(sinfo -h 2>&1 | head -1)" >&2
exit 1
