"""The process table of a sample: who ran, how much CPU, which job.

Each sample reads /proc/PID/stat of every process (the one per-pid read per
second; kernel threads are dropped by their PF_KTHREAD flag, and not read
again while their /proc inode stays the same) and keeps:
every process of a non-system user, plus the top N by CPU used since the
last sample, whoever owns them.  Things that do not change over a process's
life (uid, user name, job, command line) are read once per (pid, starttime),
so a reused pid is never mistaken for the old process; an exec (the comm
changes) refreshes them.  /proc/PID/io is read only for the kept processes.

A process that dies while it is being read is skipped without a word; a file
we may not read (another user's io or environ when not root) is said once.
"""
from __future__ import annotations

import errno
import heapq
import os
import pwd

from collector.procfs import (PF_KTHREAD, STAT_FLAGS, STAT_PPID, STAT_RSS, STAT_STARTTIME,
                              STAT_STATE, STAT_STIME, STAT_THREADS, STAT_UTIME, WarnOnce,
                              parse_cgroup_job, parse_environ_job, parse_pid_io,
                              parse_pid_status_uid, read_file, read_once, split_pid_stat)
from collector.redact import redact_cmdline

VANISHED = frozenset({errno.ENOENT, errno.ESRCH})
"""errno of reads from a process that exited between listdir and read."""
DENIED = frozenset({errno.EACCES, errno.EPERM})

JOB_TRIES = 3
"""Samples in which a process without a job is looked at again: slurmstepd
forks a task and only then moves it into the job's cgroup, so a first look
can come too early."""


STICKY_SAMPLES = 300
"""A process that was among the top N stays in the table this many samples
after it last was, while it lives: a busy run that stops (SIGSTOP, a hang,
waiting on a peer) must stay visible, or a stall would look like an exit."""


class _Proc:
    """What is kept about one live process between samples."""
    __slots__ = ("starttime", "comm", "comm_str", "uid", "cpu", "delta", "stat",
                 "job", "job_tries", "job_seen", "cmdline", "io_denied", "last_top")

    def __init__(self, starttime, uid):
        self.starttime = starttime
        self.uid = uid
        self.comm = None
        self.comm_str = ""
        self.job = None
        self.job_tries = 0
        self.job_seen = -1
        self.cmdline = None
        self.io_denied = False
        self.last_top = -STICKY_SAMPLES - 1


class ProcessTable:
    """Samples /proc/PID/* into PROC_FIELDS rows.

    ``min_uid``: users from this uid up are people (Debian, RHEL: 1000);
    ``system_uids`` are system accounts above it (nobody).  ``cmdline``: also
    record redacted command lines (off by default: they may hold secrets).
    """

    def __init__(self, proc_root: str = "/proc", top_n: int = 20, cmdline: bool = False,
                 min_uid: int = 1000, system_uids=(65534,), page_size: int | None = None,
                 warn=None):
        self.proc_root = proc_root.rstrip("/") or "/"
        self.top_n = top_n
        self._samples = 0
        self.cmdline = cmdline
        self.min_uid = min_uid
        self.system_uids = frozenset(system_uids)
        self.page_size = page_size or os.sysconf("SC_PAGE_SIZE")
        self.warn = warn or WarnOnce()
        self.nprocs = 0
        """Processes on the node at the last sample (kernel threads included)."""
        self._cache: dict[int, _Proc] = {}
        self._users: dict[int, str] = {}
        self._kthreads: dict[int, int] = {}     # pid -> /proc/PID inode
        self._nsample = 0

    # -- per-sample ---------------------------------------------------------

    def sample(self) -> list[dict]:
        """Rows of the kept processes, by pid; sets ``nprocs``."""
        self._nsample += 1
        proc = self.proc_root
        cache = self._cache
        kthreads = self._kthreads
        new_kthreads: dict[int, int] = {}
        live: dict[int, _Proc] = {}
        nprocs = 0
        try:
            entries = list(os.scandir(proc))
        except OSError as e:
            self.warn(("listdir", proc), f"cannot list {proc}: {e.strerror}; no process table")
            self.nprocs = 0
            return []
        for entry in entries:
            name = entry.name
            if not name.isdigit():
                continue
            nprocs += 1
            pid = int(name)
            ino = entry.inode()
            if kthreads.get(pid) == ino:
                # A kernel thread stays one, and a new process on its pid gets
                # a new /proc inode.  Most tasks of a big node are kernel
                # threads (~8 per CPU): this is most of the reads saved.
                new_kthreads[pid] = ino
                continue
            try:
                st = split_pid_stat(read_once(f"{proc}/{name}/stat", 2048))
                if st is None:
                    continue
                f = st[1]
                if int(f[STAT_FLAGS]) & PF_KTHREAD:
                    new_kthreads[pid] = ino
                    continue
                starttime = int(f[STAT_STARTTIME])
                cpu = int(f[STAT_UTIME]) + int(f[STAT_STIME])
            except OSError as e:
                if e.errno not in VANISHED:
                    self.warn(("stat", e.errno), f"cannot read {proc}/PID/stat: {e.strerror}")
                continue
            except ValueError:
                self.warn(("stat", "parse"), f"unparsable {proc}/{name}/stat skipped")
                continue
            p = cache.get(pid)
            if p is None or p.starttime != starttime:
                p = self._new(pid, starttime)
                if p is None:
                    continue
                cache[pid] = p
                p.delta = cpu                  # all of it happened since the last sample
            else:
                p.delta = cpu - p.cpu
            comm = st[0]
            if p.comm != comm:                 # first sight, exec or PR_SET_NAME
                if p.comm is not None:
                    p.cmdline = None
                    if p.job is None:
                        p.job_tries = 0
                p.comm = comm
                p.comm_str = comm.decode(errors="replace")
            p.cpu = cpu
            p.stat = f
            live[pid] = p
        self.nprocs = nprocs
        self._kthreads = new_kthreads
        if len(cache) > len(live):
            for pid in [pid for pid in cache if pid not in live]:
                del cache[pid]
        return [self._row(pid, live[pid], live) for pid in sorted(self._select(live))]

    def _select(self, live: dict[int, _Proc]) -> set[int]:
        lo, system = self.min_uid, self.system_uids
        keep = {pid for pid, p in live.items()
                if p.uid is not None and p.uid >= lo and p.uid not in system}
        if self.top_n > 0:
            self._samples += 1
            busy = [(p.delta, pid) for pid, p in live.items() if p.delta > 0]
            top = [pid for _, pid in heapq.nlargest(self.top_n, busy)]
            keep.update(top)
            if self._samples > 1:      # the first sample's "deltas" are whole lifetimes
                for pid in top:
                    live[pid].last_top = self._samples
                recent = self._samples - STICKY_SAMPLES
                keep.update(pid for pid, p in live.items() if p.last_top >= recent)
        return keep

    def _row(self, pid: int, p: _Proc, live: dict[int, _Proc]) -> dict:
        f = p.stat
        rb = wb = None
        if not p.io_denied:
            try:
                rb, wb = parse_pid_io(read_once(f"{self.proc_root}/{pid}/io"))
            except OSError as e:
                if e.errno in DENIED:
                    p.io_denied = True
                    self.warn("io", f"cannot read {self.proc_root}/PID/io of some processes "
                                    f"({e.strerror}: not root, or no CAP_SYS_PTRACE for "
                                    "undumpable ones): their read/write_bytes are null")
                elif e.errno not in VANISHED:
                    self.warn(("io", e.errno), f"cannot read {self.proc_root}/PID/io: {e.strerror}")
        cmd = None
        if self.cmdline:
            if p.cmdline is None:
                p.cmdline = self._cmdline(pid)
            cmd = p.cmdline or None
        uid = p.uid
        return {"pid": pid, "ppid": int(f[STAT_PPID]), "uid": uid, "user": self._user(uid),
                "comm": p.comm_str, "state": f[STAT_STATE].decode(errors="replace"),
                "threads": int(f[STAT_THREADS]), "utime": int(f[STAT_UTIME]),
                "stime": int(f[STAT_STIME]), "starttime": p.starttime,
                "rss": int(f[STAT_RSS]) * self.page_size, "read_bytes": rb, "write_bytes": wb,
                "job": self._job(pid, live, 0), "cmdline": cmd}

    # -- read once per process ---------------------------------------------

    def _new(self, pid: int, starttime: int) -> _Proc | None:
        try:
            uid = parse_pid_status_uid(read_once(f"{self.proc_root}/{pid}/status"))
        except OSError as e:
            if e.errno in VANISHED:
                return None
            self.warn(("status", e.errno), f"cannot read {self.proc_root}/PID/status: {e.strerror}")
            uid = None
        return _Proc(starttime, uid)

    def _user(self, uid: int | None) -> str | None:
        if uid is None:
            return None
        name = self._users.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = str(uid)
            self._users[uid] = name
        return name

    def _cmdline(self, pid: int) -> str:
        try:
            return redact_cmdline(read_file(f"{self.proc_root}/{pid}/cmdline"))
        except OSError:
            return ""

    def _job(self, pid: int, live: dict[int, _Proc], depth: int) -> str | None:
        """Slurm job of a process: its cgroup, else its environ, else (programs
        that rewrite their title lose their environ) its nearest ancestor's."""
        p = live.get(pid)
        if p is None:
            return None
        if p.job is not None or p.job_tries >= JOB_TRIES or p.job_seen == self._nsample:
            return p.job
        p.job_seen = self._nsample
        p.job_tries += 1
        job = self._own_job(pid)
        ppid = int(p.stat[STAT_PPID])
        if job is None and depth < 128 and ppid > 1 and ppid != pid:
            job = self._job(ppid, live, depth + 1)
        p.job = job
        return job

    def _own_job(self, pid: int) -> str | None:
        base = f"{self.proc_root}/{pid}/"
        try:
            job = parse_cgroup_job(read_file(base + "cgroup"))
            if job is not None:
                return job
        except OSError as e:
            if e.errno not in VANISHED:
                self.warn(("cgroup", e.errno), f"cannot read {base}cgroup: {e.strerror}")
        try:
            return parse_environ_job(read_file(base + "environ"))
        except OSError as e:
            if e.errno in DENIED:
                self.warn("environ", "cannot read the environ of some processes "
                                     f"({e.strerror}: not root, or no CAP_SYS_PTRACE for "
                                     "undumpable ones): their jobs come from cgroups only")
            elif e.errno not in VANISHED:
                self.warn(("environ", e.errno), f"cannot read {base}environ: {e.strerror}")
            return None
