"""What Slurm gave each job on this node, for the trace's ``slurm_jobs`` column.

A job is known to the recorder once one of its processes is in the process
table (``collector.processes`` finds its id in the cgroup or environ).  Its
allocation is captured once, when the job first appears, and looked at again
at most every ``POLL_S`` seconds while the job lives here; a row goes into the
trace only when the allocation is first known or has changed.

Where an allocation comes from, in order:

  scontrol  ``scontrol show job -d -o JOBID``: one line of ``Key=value``
            pairs; ``-d`` adds, per group of nodes, ``Nodes=... CPU_IDs=...
            Mem=... GRES=...``, which is where this node's CPUs are.
  cgroup    when scontrol is missing, times out or fails: the job's cgroup
            (v1 ``cpuset/slurm*/uid_U/job_J/cpuset.cpus`` and
            ``memory/.../memory.limit_in_bytes``; v2
            ``system.slice/*slurmstepd.scope/job_J/cpuset.cpus, memory.max``),
            the gaps filled from the environ,
  environ   the ``SLURM_*`` variables of one of the job's processes (no other
            variable is decoded).

scontrol can hang for as long as slurmctld does not answer, so it never runs
on the sampling path: a ``Worker`` thread runs it with a timeout and the
sampler picks the result up, without waiting, in a later sample.  After
scontrol was missing or timed out, the next ``RETRY_S`` seconds use the
fallbacks only.  A fallback never replaces what scontrol said about a job: a
slurmctld that stops answering for a minute must not make allocations look
changed.

The parsers are pure functions over text; ``SlurmJobs`` does the bookkeeping.
"""
from __future__ import annotations

import datetime as _dt
import glob
import os
import pwd
import queue
import re
import signal
import socket
import subprocess
import threading
import time

from collector.procfs import read_file
from collector.schema import SLURM_JOB_FIELDS

SCONTROL_TIMEOUT = 5.0
"""Seconds an scontrol call may take before it is killed and the fallbacks answer."""
POLL_S = 60.0
"""A live job's allocation is asked for again at most this often (it rarely changes)."""
RETRY_S = 300.0
"""After scontrol was missing or timed out: seconds of fallbacks only before trying it again."""
FORGET_S = 600.0
"""A job not seen on the node for this long is forgotten (a requeued job is captured again)."""
ENV_PIDS = 8
"""At most this many of a job's processes are tried for an environ with SLURM_ variables."""
MIB = 1 << 20

JOB_FIELDS = tuple(f.name for f in SLURM_JOB_FIELDS)


def empty_allocation(job: str, source: str) -> dict:
    """A ``slurm_jobs`` row with nothing known yet."""
    row = dict.fromkeys(JOB_FIELDS)
    row.update(job=job, cpu_ids="", source=source)
    return row


# --------------------------------------------------------------------------
# Running commands off the sampling path


class CommandError(Exception):
    """A command that could not answer; ``kind`` is missing, timeout or failed."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def run_command(argv: list[str], timeout: float, env: dict | None = None) -> str:
    """stdout of ``argv``, or ``CommandError`` with one line saying why not.

    The command runs in its own process group, and the whole group is killed
    at the timeout: a wrapper script's children must not keep the pipe open
    (and this thread waiting) after the command itself is gone."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
    except FileNotFoundError:
        raise CommandError("missing", f"{argv[0]} not found") from None
    except OSError as e:
        raise CommandError("missing", f"cannot run {argv[0]}: {e.strerror}") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        raise CommandError("timeout", f"{' '.join(argv[:3])} timed out after {timeout:g} s") from None
    if proc.returncode != 0:
        why = err.decode(errors="replace").strip().splitlines()
        raise CommandError("failed", f"{' '.join(argv)} exited with {proc.returncode}"
                                     + (f": {why[0][:160]}" if why else ""))
    return out.decode(errors="replace")


class Worker:
    """Runs slow calls one at a time on a daemon thread; the sampler never waits for it.

    ``submit(key, fn, *args)`` queues ``fn(*args)`` unless ``key`` is still
    pending; ``collect(key)`` is ``(True, result)`` once it has run (an
    exception is the result), else ``(False, None)``.  The thread starts with
    the first call, so a node that never runs a job never has it.  Only the
    sampling thread calls these methods.
    """

    def __init__(self, name: str):
        self.name = name
        self._todo: queue.SimpleQueue = queue.SimpleQueue()
        self._done: dict = {}
        self._pending: set = set()
        self._thread: threading.Thread | None = None

    def submit(self, key, fn, *args) -> bool:
        if key in self._pending:
            return False
        self._pending.add(key)
        self._todo.put((key, fn, args))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return True

    def pending(self, key) -> bool:
        return key in self._pending

    def collect(self, key):
        if key not in self._done:
            return False, None
        self._pending.discard(key)
        return True, self._done.pop(key)

    def _run(self) -> None:
        while True:
            key, fn, args = self._todo.get()
            try:
                result = fn(*args)
            except Exception as e:      # a bug in a query must not kill the thread
                result = e
            self._done[key] = result


class Scontrol:
    """scontrol calls with a timeout, and the memory of it being missing or hung.

    Used on the worker thread only.  ``SLURM_TIME_FORMAT=standard``: a user's
    ``relative`` setting must not change the times we parse."""

    def __init__(self, command: str = "scontrol", timeout: float = SCONTROL_TIMEOUT, clock=None):
        self.command = command
        self.timeout = timeout
        self._clock = clock or time.monotonic
        self._resume = 0.0

    def usable(self) -> bool:
        return self._clock() >= self._resume

    def __call__(self, *args: str) -> str:
        env = dict(os.environ, SLURM_TIME_FORMAT="standard")
        try:
            return run_command([self.command, *args], self.timeout, env)
        except CommandError as e:
            if e.kind in ("missing", "timeout"):
                self._resume = self._clock() + RETRY_S
            raise


# --------------------------------------------------------------------------
# Parsers of Slurm's text


_NULLS = frozenset({"", "(null)", "N/A", "None", "Unknown", "n/s"})


def _value(text: str | None) -> str | None:
    return None if text is None or text in _NULLS else text


def _leading_int(text: str | None) -> int | None:
    m = re.match(r"\d+", text or "")
    return int(m.group()) if m else None


def parse_time_limit(text: str | None) -> int | None:
    """Seconds of a Slurm time limit; None for UNLIMITED, unknown or unreadable.

    Slurm's forms: ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``,
    ``D-HH:MM:SS`` (scontrol prints the last two, sbatch takes them all)."""
    t = (text or "").strip()
    if not t or not re.fullmatch(r"(\d+-)?\d+(:\d+){0,2}", t):
        return None
    days, _, rest = t.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    if days:
        h, m, s = (parts + [0, 0])[:3]
        return ((int(days) * 24 + h) * 60 + m) * 60 + s
    if len(parts) == 3:
        h, m, s = parts
    else:
        h, (m, s) = 0, (parts + [0])[:2]
    return (h * 60 + m) * 60 + s


_UNITS = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def parse_mem(text: str | None) -> int | None:
    """Bytes of a Slurm memory size (``300M``, ``1.50G``, ``4096`` = MiB); None if unreadable."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGTP]?)", (text or "").strip())
    if not m:
        return None
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def _split_top(text: str, sep: str = ",") -> list[str]:
    """``text`` split at ``sep`` outside brackets and parentheses."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in "[(":
            depth += 1
        elif c in "])":
            depth -= 1
        elif c == sep and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [p for p in out if p]


def id_list(text: str) -> list[int]:
    """The numbers of a Slurm/kernel list such as ``0-1,4`` (CPU ids, GPU indices)."""
    out: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        a, dash, b = part.partition("-")
        lo, hi = int(a), int(b) if dash else int(a)
        if hi < lo or hi - lo > 1 << 20:
            raise ValueError(f"bad range {part!r}")
        out.extend(range(lo, hi + 1))
    return out


HOSTLIST_MAX = 1 << 16


def expand_hostlist(text: str) -> list[str]:
    """Host names of a Slurm host list: ``n[01-03,07],gpu5`` -> n01 n02 n03 n07 gpu5.

    Several bracket groups multiply (``r[1-2]n[1-2]``); ``ValueError`` beyond
    ``HOSTLIST_MAX`` names or for a malformed list."""
    names: list[str] = []
    for part in _split_top(text.strip()):
        names.extend(_expand_one(part))
        if len(names) > HOSTLIST_MAX:
            raise ValueError("host list too long")
    return names


def _expand_one(text: str) -> list[str]:
    i = text.find("[")
    if i < 0:
        return [text]
    j = text.find("]", i)
    if j < 0:
        raise ValueError(f"unclosed bracket in {text!r}")
    head, body, tails = text[:i], text[i + 1:j], _expand_one(text[j + 1:])
    out = []
    for r in body.split(","):
        a, dash, b = r.partition("-")
        if not a.isdigit() or (dash and not b.isdigit()):
            raise ValueError(f"bad range {r!r} in {text!r}")
        if int(b if dash else a) - int(a) > HOSTLIST_MAX:
            raise ValueError("host list too long")
        for n in range(int(a), int(b if dash else a) + 1):
            out.extend(f"{head}{n:0{len(a)}d}{t}" for t in tails)
    return out


def count_gpus(gres: str | None) -> int:
    """GPUs in a GRES or TRES-per-node string: ``gpu:a100:2(IDX:0-1)``, ``gres/gpu:2``,
    ``gres:gpu:1``, ``gpu`` (one); 0 when it names none."""
    total = 0
    for entry in _split_top(gres or ""):
        name, _, idx = entry.partition("(")
        parts = name.replace("gres/", "").replace("gres:", "").split(":")
        if parts[0] != "gpu":
            continue
        if len(parts) > 1 and parts[-1].isdigit():
            total += int(parts[-1])
        elif idx.startswith("IDX:"):
            try:
                total += len(id_list(idx[4:].rstrip(")")))
            except ValueError:
                total += 1
        else:
            total += 1
    return total


def parse_tres(text: str | None) -> dict[str, str]:
    """``cpu=2,mem=300M,node=1,gres/gpu=1`` -> {name: value}."""
    out = {}
    for item in (_value(text) or "").split(","):
        k, sep, v = item.partition("=")
        if sep:
            out[k] = v
    return out


def _tres_gpus(tres: dict[str, str]) -> int | None:
    if "gres/gpu" in tres:
        return _leading_int(tres["gres/gpu"])
    typed = [_leading_int(v) or 0 for k, v in tres.items() if k.startswith("gres/gpu:")]
    return sum(typed) if typed else None


# Keys `scontrol show job` prints whose values are user text (may hold spaces and "=");
# the value runs on until a token that starts with a key from _KEYS.
_FREE_TEXT = frozenset({"JobName", "Comment", "AdminComment", "SystemComment", "Command", "WorkDir",
                        "StdErr", "StdIn", "StdOut", "Reason", "Features", "Prefer", "ClusterFeatures",
                        "MailUser", "Container", "ContainerID", "Extra"})
_KEYS = frozenset("""JobId ArrayJobId ArrayTaskId ArrayTaskThrottle HetJobId HetJobOffset HetJobIdSet
JobName UserId GroupId MCS_label Priority Nice Account QOS WCKey JobState Reason Dependency Requeue
Restarts BatchFlag Reboot ExitCode DerivedExitCode RunTime TimeLimit TimeMin SubmitTime EligibleTime
AccrueTime StartTime EndTime Deadline SuspendTime SecsPreSuspend LastSchedEval Scheduler Partition
AllocNode:Sid ReqNodeList ExcNodeList NodeList SchedNodeList BatchHost NumNodes NumCPUs NumTasks
CPUs/Task ReqB:S:C:T TRES ReqTRES AllocTRES Socks/Node NtasksPerN:B:S:C CoreSpec ThreadSpec JOB_GRES
Nodes CPU_IDs Mem GRES GRES_IDX MinCPUsNode MinMemoryNode MinMemoryCPU MinMemoryTRES MinTmpDiskNode
Features ClusterFeatures Prefer DelayBoot Reservation OverSubscribe Contiguous Licenses LicensesAlloc
Network Command WorkDir AdminComment SystemComment Comment StdErr StdIn StdOut Power TresPerNode
TresPerJob TresPerSocket TresPerTask TresBind TresFreq CpusPerTres MemPerTres NtasksPerTRES MailUser
MailType CPU_Freq Container ContainerID BurstBuffer BurstBufferState CpuFrequency KillOOnInvalidDependent
Extra Switches Wait-for-Switch Siblings FedOrigin FedViableSiblings FedActiveSiblings ResvPorts
SelinuxContext OOMKillStep NodeListIndices""".split())
_KEY = re.compile(r"([A-Za-z][A-Za-z0-9_:/-]*)=")


def split_fields(line: str) -> list[tuple[str, str]]:
    """The ``Key=value`` pairs of one ``scontrol -o`` line, in order, repeats kept.

    Tokens are split at white space.  After a key whose value is user text
    (Comment, ...) every token up to the next known key belongs to the value,
    so ``Comment=note: a=b`` stays whole; JobName's value runs to ``UserId=``,
    which always follows it, so a job name cannot pass for the fields after
    it.  Elsewhere a token of the form ``Key=`` starts a new pair (a key a
    newer Slurm added is kept as its own pair), and a token without ``=``
    continues the value before it.  (A comment that imitates a known key can
    still mislead the few fields printed after it.)"""
    pairs: list[list[str]] = []
    for tok in line.split():
        m = _KEY.match(tok)
        key = m.group(1) if m else None
        last = pairs[-1][0] if pairs else None
        if last is not None and (key is None or (last == "JobName" and key != "UserId")
                                 or (last in _FREE_TEXT and key not in _KEYS)):
            pairs[-1][1] += " " + tok
        elif key is not None:
            pairs.append([key, tok[m.end():]])
    return [(k, v) for k, v in pairs]


_DETAIL = frozenset({"CPU_IDs", "Mem", "GRES", "GRES_IDX"})


def parse_job(text: str, job: str | None = None, node_names=(), tz=None) -> dict | None:
    """The ``slurm_jobs`` row of ``job`` in ``scontrol show job -d -o`` output; None
    when the output has no line for it (an array's other tasks are skipped).

    ``node_names``: this node's names, to pick its group of the ``-d`` detail
    when the job's nodes got different CPUs (with a single group, that group);
    ``tz``: the time zone scontrol printed times in (default: local)."""
    for line in text.splitlines():
        pairs = split_fields(line)
        if not pairs or pairs[0][0] != "JobId" or (job is not None and pairs[0][1] != str(job)):
            continue
        return _allocation(pairs, node_names, tz)
    return None


def _allocation(pairs, node_names, tz) -> dict:
    first: dict[str, str] = {}
    groups: list[dict[str, str]] = []
    group = None
    for k, v in pairs:
        if k == "Nodes":
            group = {"Nodes": v}
            groups.append(group)
        elif group is not None and k in _DETAIL:
            group.setdefault(k, v)
        else:
            group = None
            first.setdefault(k, v)       # a key in a user's text later on does not count
    row = empty_allocation(first["JobId"], "scontrol")
    user = _value(first.get("UserId"))
    if user:
        m = re.fullmatch(r"(.*)\((\d+)\)", user)
        row["user"] = (m.group(1) if m.group(1) not in _NULLS else m.group(2)) if m else user
    row["partition"] = _value(first.get("Partition"))
    nodes = row["nodes"] = _leading_int(first.get("NumNodes"))
    mine = _pick_group(groups, node_names)
    if mine is not None:
        row["cpu_ids"] = mine.get("CPU_IDs", "")
    if row["cpu_ids"]:
        try:
            row["cpus"] = len(id_list(row["cpu_ids"]))
        except ValueError:
            row["cpu_ids"] = ""
    if row["cpus"] is None and nodes == 1:
        row["cpus"] = _leading_int(first.get("NumCPUs"))
    tres = parse_tres(first.get("AllocTRES")) or parse_tres(first.get("TRES")) \
        or parse_tres(first.get("ReqTRES"))
    row["mem_bytes"] = _job_mem(first, mine, tres, row["cpus"], nodes)
    row["time_limit_s"] = parse_time_limit(first.get("TimeLimit"))
    if first.get("JobState") != "PENDING":      # a pending job's StartTime is a forecast
        row["start"] = parse_slurm_time(first.get("StartTime"), tz)
    detail_gres = _value(mine.get("GRES")) if mine else None
    per_node = _value(first.get("TresPerNode"))
    if detail_gres:
        row["gpus"] = count_gpus(detail_gres)
    elif per_node:
        row["gpus"] = count_gpus(per_node)
    else:
        total = _tres_gpus(tres)
        row["gpus"] = 0 if not total else (total // nodes if nodes else None)
    row["gres"] = detail_gres or _value(first.get("JOB_GRES")) or per_node or ""
    row["licenses"] = _value(first.get("Licenses")) or ""
    return row


def _pick_group(groups: list[dict], node_names) -> dict | None:
    if len(groups) == 1:
        return groups[0]
    names = set(node_names)
    for g in groups:
        try:
            if names & set(expand_hostlist(g["Nodes"])):
                return g
        except ValueError:
            continue
    return None


def _job_mem(first: dict, mine: dict | None, tres: dict, cpus: int | None, nodes: int | None) -> int | None:
    """Memory of the job on this node: the ``-d`` detail's Mem (MiB; 0 when memory is
    not a consumable resource), else MinMemoryNode, MinMemoryCPU x CPUs, TRES mem / nodes."""
    detail = _leading_int(mine.get("Mem")) if mine else None
    if detail:
        return detail * MIB
    per_node = parse_mem(first.get("MinMemoryNode"))
    if per_node:
        return per_node
    per_cpu = parse_mem(first.get("MinMemoryCPU"))
    if per_cpu and cpus:
        return per_cpu * cpus
    total = parse_mem(tres.get("mem"))
    if total and nodes:
        return total // nodes
    return None


def parse_slurm_time(text: str | None, tz=None) -> int | None:
    """Microseconds since the epoch (UTC) of a Slurm time ``2026-12-05T22:18:47``,
    printed in ``tz`` (default: this machine's zone); None for Unknown/None."""
    t = _value(text)
    if t is None:
        return None
    try:
        when = _dt.datetime.fromisoformat(t)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz) if tz is not None else when.astimezone()
    return int(when.timestamp()) * 1_000_000


# --------------------------------------------------------------------------
# The fallbacks: environ and cgroup


def parse_slurm_environ(data: bytes) -> dict[str, str]:
    """The ``SLURM_*`` variables of a /proc/PID/environ; no other variable is decoded or kept."""
    env = {}
    for item in data.split(b"\0"):
        if item.startswith(b"SLURM_"):
            key, sep, value = item.partition(b"=")
            if sep:
                env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def _env_job(env: dict[str, str]) -> str | None:
    return env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")


def _cpus_per_node(text: str, node_id: int | None) -> int | None:
    """SLURM_JOB_CPUS_PER_NODE ``2(x3),1`` at this node's index (or when all agree)."""
    counts: list[int] = []
    for item in text.split(","):
        m = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", item.strip())
        if not m:
            return None
        counts.extend([int(m.group(1))] * int(m.group(2) or 1))
        if len(counts) > HOSTLIST_MAX:
            return None
    if node_id is not None and 0 <= node_id < len(counts):
        return counts[node_id]
    return counts[0] if counts and len(set(counts)) == 1 else None


def allocation_from_environ(env: dict[str, str], job: str) -> dict | None:
    """A ``slurm_jobs`` row from a process's SLURM_ variables; None unless they are ``job``'s."""
    if _env_job(env) != job:
        return None
    row = empty_allocation(job, "environ")
    row["user"] = env.get("SLURM_JOB_USER") or None
    row["partition"] = env.get("SLURM_JOB_PARTITION") or None
    row["nodes"] = _leading_int(env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES"))
    cpus = _leading_int(env.get("SLURM_CPUS_ON_NODE"))
    if cpus is None and env.get("SLURM_JOB_CPUS_PER_NODE"):
        cpus = _cpus_per_node(env["SLURM_JOB_CPUS_PER_NODE"], _leading_int(env.get("SLURM_NODEID")))
    row["cpus"] = cpus
    per_node, per_cpu = _leading_int(env.get("SLURM_MEM_PER_NODE")), _leading_int(env.get("SLURM_MEM_PER_CPU"))
    if per_node:
        row["mem_bytes"] = per_node * MIB
    elif per_cpu and cpus:
        row["mem_bytes"] = per_cpu * cpus * MIB
    if env.get("SLURM_GPUS_ON_NODE"):
        row["gpus"] = _leading_int(env["SLURM_GPUS_ON_NODE"])
    elif env.get("SLURM_JOB_GPUS"):
        try:
            row["gpus"] = len(id_list(env["SLURM_JOB_GPUS"]))
        except ValueError:
            pass
    if "SLURM_JOB_LICENSES" in env:
        row["licenses"] = env["SLURM_JOB_LICENSES"]
    start, end = _leading_int(env.get("SLURM_JOB_START_TIME")), _leading_int(env.get("SLURM_JOB_END_TIME"))
    if start:
        row["start"] = start * 1_000_000
        # Slurm ends an UNLIMITED job's window a year after its start: that is no limit
        if end and start < end < start + UNLIMITED_END_S:
            row["time_limit_s"] = end - start
    return row


UNLIMITED_END_S = 365 * 86400
"""SLURM_JOB_END_TIME - SLURM_JOB_START_TIME of a job with TimeLimit=UNLIMITED."""

_UNLIMITED = 1 << 62
"""cgroup v1 memory.limit_in_bytes at or above this is "no limit" (PAGE_COUNTER_MAX pages)."""


def _glob_first(pattern: str) -> str | None:
    found = sorted(glob.glob(pattern))
    return found[0] if found else None


def read_cgroup_allocation(sys_root: str, job: str) -> dict | None:
    """A ``slurm_jobs`` row from the job's cgroup (task/cgroup), v1 or v2; None without one."""
    base = f"{sys_root}/fs/cgroup"
    v2_dirs = (f"{base}/system.slice/*slurmstepd.scope/job_{job}",
               f"{base}/unified/system.slice/*slurmstepd.scope/job_{job}")
    cpus_file = _glob_first(f"{base}/cpuset/slurm*/uid_*/job_{job}/cpuset.cpus")
    mem_file = _glob_first(f"{base}/memory/slurm*/uid_*/job_{job}/memory.limit_in_bytes")
    v2 = next((d for p in v2_dirs if (d := _glob_first(p))), None)
    if v2 is not None:
        cpus_file = cpus_file or next((f for f in (f"{v2}/cpuset.cpus", f"{v2}/cpuset.cpus.effective")
                                       if _text(f)), None)
        mem_file = mem_file or (f"{v2}/memory.max" if os.path.exists(f"{v2}/memory.max") else None)
    if cpus_file is None and mem_file is None:
        return None
    row = empty_allocation(job, "cgroup")
    cpu_ids = _text(cpus_file) if cpus_file else ""
    if cpu_ids:
        try:
            row["cpus"] = len(id_list(cpu_ids))
            row["cpu_ids"] = cpu_ids
        except ValueError:
            pass
    limit = _text(mem_file) if mem_file else ""
    if limit.isdigit() and int(limit) < _UNLIMITED:
        row["mem_bytes"] = int(limit)
    m = re.search(r"/uid_(\d+)/", cpus_file or mem_file or "")
    if m:
        row["user"] = _user_name(int(m.group(1)))
    return row


def _text(path: str) -> str:
    try:
        return read_file(path).decode(errors="replace").strip()
    except OSError:
        return ""


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def read_job_environ(proc_root: str, pids, job: str) -> dict[str, str]:
    """The SLURM_ variables of the first of ``pids`` whose environ says it is in ``job``."""
    for pid in list(pids)[:ENV_PIDS]:
        try:
            env = parse_slurm_environ(read_file(f"{proc_root}/{pid}/environ"))
        except OSError:
            continue
        if _env_job(env) == job:
            return env
    return {}


def merge_fallbacks(cgroup: dict | None, env_row: dict | None) -> dict | None:
    """The cgroup's CPUs and memory, every gap filled from the environ's row."""
    if cgroup is None:
        return env_row
    if env_row is not None:
        for key, value in env_row.items():
            if key != "source" and cgroup[key] in (None, "") and value not in (None, ""):
                cgroup[key] = value
    return cgroup


# --------------------------------------------------------------------------
# Bookkeeping: which job to ask about, and when


def node_names() -> tuple[str, ...]:
    """This host's names as Slurm may call it: the full and the short host name."""
    host = socket.gethostname()
    return tuple(dict.fromkeys((host, host.split(".")[0])))


def capture(job: str, pids, proc_root: str, sys_root: str, scontrol: Scontrol | None,
            fallback: bool, names=(), tz=None) -> tuple[dict | None, list[tuple]]:
    """One job's allocation from the first source that answers, and the
    problems met on the way as (key, message) for the caller to log once.
    Runs on the worker thread."""
    problems: list[tuple] = []
    if scontrol is not None and scontrol.usable():
        try:
            row = parse_job(scontrol("show", "job", "-d", "-o", job), job, names, tz)
            if row is not None:
                return row, problems
            problems.append((("scontrol", "nojob"), f"scontrol show job {job} printed no line for "
                                                     "the job; its allocation comes from cgroups and environ"))
        except CommandError as e:
            how = {"missing": f"for the next {RETRY_S:g} s", "timeout": f"for the next {RETRY_S:g} s",
                   "failed": "when it fails"}[e.kind]
            problems.append((("scontrol", e.kind), f"{e}; job allocations come from cgroups and "
                                                   f"environ {how}"))
        except (ValueError, KeyError, IndexError) as e:
            problems.append((("scontrol", "parse"), f"cannot parse scontrol show job {job} ({e!r}); "
                                                    "its allocation comes from cgroups and environ"))
    if not fallback:
        return None, problems
    env_row = allocation_from_environ(read_job_environ(proc_root, pids, job), job)
    row = merge_fallbacks(read_cgroup_allocation(sys_root, job), env_row)
    if row is not None and all(v in (None, "") for k, v in row.items() if k not in ("job", "source")):
        row = None                      # SLURM_JOB_ID alone: nothing about the allocation
    if row is None and problems:        # scontrol was asked and failed: say the rest failed too
        problems.append((("slurm", "nothing"), f"no allocation for Slurm job {job}: scontrol did not "
                                               "answer and neither its cgroup nor its environ tells it"))
    return row, problems


class _Job:
    __slots__ = ("last", "seen", "next_poll")

    def __init__(self, now: float):
        self.last: dict | None = None
        self.seen = now
        self.next_poll = now


class SlurmJobs:
    """The ``slurm_jobs`` rows of each sample.  ``update(live, now_ns)`` takes the
    jobs of the sample's process table ({job id: [pids]}) and the monotonic
    clock, queues what must be asked and returns the allocations that are new
    or changed since the last sample (usually none).  Without ``scontrol``
    the fallbacks alone answer.  ``worker`` and ``scontrol`` may be shared
    with ``collector.licences``."""

    def __init__(self, proc_root: str = "/proc", sys_root: str = "/sys", warn=None, *,
                 worker: Worker | None = None, scontrol: Scontrol | None = None,
                 poll_s: float = POLL_S, tz=None):
        self.proc_root, self.sys_root = proc_root, sys_root
        self._warn = warn or (lambda key, msg: None)
        self.worker = worker or Worker("paratune-slurm")
        self.scontrol = scontrol
        self.poll_s = poll_s
        self.tz = tz
        self._names = node_names()
        self._jobs: dict[str, _Job] = {}

    @property
    def busy(self) -> bool:
        """Jobs are known (so update must run even in a sample without any)."""
        return bool(self._jobs)

    def update(self, live: dict[str, list[int]], now_ns: int) -> list[dict]:
        now = now_ns / 1e9
        jobs = self._jobs
        for job, pids in live.items():
            st = jobs.get(job)
            if st is None:
                if not job.isdigit():    # an environ's SLURM_JOB_ID is the process's own text
                    self._warn(("slurm", "id"), f"job id {job[:40]!r} is not a Slurm job id; not asked about")
                    continue
                st = jobs[job] = _Job(now)
            st.seen = now
            if now >= st.next_poll and not self.worker.pending(job):
                fallback = st.last is None or st.last["source"] != "scontrol"
                self.worker.submit(job, capture, job, tuple(pids), self.proc_root, self.sys_root,
                                   self.scontrol, fallback, self._names, self.tz)
                st.next_poll = float("inf")      # set when the answer comes
        out = []
        for job, st in list(jobs.items()):
            if st.next_poll == float("inf"):
                done, result = self.worker.collect(job)
                if not done:
                    continue
                st.next_poll = now + self.poll_s
                if isinstance(result, Exception):
                    self._warn(("slurm", "bug"), f"Slurm allocation of job {job} failed: {result!r}")
                    continue
                row, problems = result
                for key, message in problems:
                    self._warn(key, message)
                if row is not None and row != st.last:
                    st.last = row
                    out.append(row)
            elif now - st.seen > FORGET_S:
                del jobs[job]
        return out
