"""Licence use, for the trace's ``licences`` column: Slurm's licences and FlexLM servers.

Two sources, each asked at most once a minute (``LicenceSettings.interval``)
on a worker thread, never on the sampling path; a sample carries the rows of
the answers that came in since the last sample, and an empty list otherwise.

  slurm   ``scontrol show licenses -o`` (the ``Licenses=`` of slurm.conf and
          remote licences), while a Slurm job runs on this node.  A cluster
          without licences answers with nothing; it is then asked every
          ``EMPTY_RETRY_S`` seconds only.
  flexlm  ``lmutil lmstat -a -c PORT@HOST`` for each server of the settings'
          ``flexlm`` list (none by default), whether or not a job runs.

Of lmstat's report only the ``Users of FEATURE:`` lines are read: counts.
The user, host and display names of the checkouts listed under them are
never parsed, kept or logged.
"""
from __future__ import annotations

import re

from collector.config import LicenceSettings
from collector.slurm import CommandError, Scontrol, Worker, run_command

LMSTAT_TIMEOUT = 30.0
"""Seconds lmstat may take per server (it waits for every vendor daemon)."""
EMPTY_RETRY_S = 600.0
"""Seconds before asking again a Slurm that has no licences, or after lmutil was missing."""


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def parse_slurm_licenses(text: str) -> list[dict]:
    """``licences`` rows of ``scontrol show licenses -o``: one line per licence,
    ``LicenseName=fluent Total=4 Used=1 Free=3 Reserved=0 Remote=no``."""
    rows = []
    for line in text.splitlines():
        fields = dict(tok.partition("=")[::2] for tok in line.split() if "=" in tok)
        name = fields.get("LicenseName")
        if name:
            rows.append({"name": name, "server": "", "total": _int(fields.get("Total")),
                         "used": _int(fields.get("Used")), "source": "slurm"})
    return rows


_USERS_OF = re.compile(r"^Users of (?P<name>[^\s:][^:]*):\s*\((?P<what>.*)\)\s*$")
_COUNTS = re.compile(r"Total of (\d+) licen[sc]es? issued;\s*Total of (\d+) licen[sc]es? in use", re.I)
_SERVER_ERRORS = re.compile(r"Cannot connect to license server|Error getting status|lmgrd is not running|"
                            r"Cannot find license file|License server machine is down|"
                            r"Cannot read data from license server", re.I)


def parse_lmstat(text: str, server: str) -> tuple[list[dict], list[str]]:
    """``licences`` rows of ``lmutil lmstat -a`` output, and its error lines.

    ``Users of F:  (Total of N licenses issued;  Total of M licenses in use)``
    gives F's counts; ``(Uncounted, node-locked)`` a row with null counts (the
    server does not count them); ``(Error: ...)`` no row but an error.  A
    feature listed twice (two vendor daemons) is one row, summed.  Lines that
    say the server or a daemon cannot be reached are errors too.  Nothing
    else of the output, in particular no user or host of a checkout, is read."""
    rows: dict[str, dict] = {}
    errors: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        m = _USERS_OF.match(line)
        if m is None:
            if _SERVER_ERRORS.search(line):
                errors.append(line[:200])
            continue
        name, what = m.group("name").strip(), m.group("what")
        counts = _COUNTS.search(what)
        if counts:
            total, used = int(counts.group(1)), int(counts.group(2))
        elif what.lower().startswith("uncounted"):
            total = used = None
        else:
            errors.append(f"{name}: {what.strip()[:160]}")
            continue
        row = rows.get(name)
        if row is None:
            rows[name] = {"name": name, "server": server, "total": total, "used": used, "source": "flexlm"}
        elif total is not None:
            row["total"] = (row["total"] or 0) + total
            row["used"] = (row["used"] or 0) + used
    return list(rows.values()), errors


def query_flexlm(lmutil: str, servers: tuple[str, ...]) -> tuple[list[dict], list[tuple]]:
    """Every server's rows, and the problems met as (key, message).  Worker thread."""
    rows, problems = [], []
    for server in servers:
        try:
            text = run_command([lmutil, "lmstat", "-a", "-c", server], LMSTAT_TIMEOUT)
        except CommandError as e:
            problems.append((("flexlm", e.kind, server), f"FlexLM {server}: {e}; no licence counts from it"))
            if e.kind == "missing":
                break
            continue
        found, errors = parse_lmstat(text, server)
        rows.extend(found)
        if errors:
            problems.append((("flexlm", "error", server),
                             f"FlexLM {server}: lmstat says {errors[0]!r}"
                             + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")))
    return rows, problems


def query_slurm(scontrol: Scontrol) -> tuple[list[dict] | None, list[tuple]]:
    """Slurm's licence rows (None: no answer) and problems.  Worker thread."""
    if not scontrol.usable():           # missing or hung a moment ago: the jobs' fallbacks say so
        return None, []
    try:
        return parse_slurm_licenses(scontrol("show", "licenses", "-o")), []
    except CommandError as e:
        return None, [(("slurm-licences", e.kind), f"{e}; no Slurm licence counts this time")]


class _Poll:
    __slots__ = ("key", "next", "pending")

    def __init__(self, key: str):
        self.key, self.next, self.pending = key, 0.0, False


class Licences:
    """The ``licences`` rows of each sample: ``update(now_ns, jobs_live)`` asks
    what is due (on the worker threads) and returns the rows of the answers
    that came in; ``active`` says whether a sample must call it at all.
    Slurm's licences need ``scontrol``."""

    def __init__(self, settings: LicenceSettings | None = None, warn=None, *,
                 worker: Worker | None = None, scontrol: Scontrol | None = None):
        self.settings = settings or LicenceSettings()
        self._warn = warn or (lambda key, msg: None)
        self.worker = worker or Worker("paratune-slurm")
        self.scontrol = scontrol
        """Without it (not this machine's /proc) Slurm's licences are not asked for."""
        self._flexlm_worker = Worker("paratune-flexlm")
        self._slurm = _Poll("licences")
        self._flexlm = _Poll("flexlm")

    @property
    def active(self) -> bool:
        return bool(self.settings.flexlm) or self._slurm.pending

    def sources(self) -> list[str]:
        """What is polled: ``slurm`` and each FlexLM server (for the trace metadata)."""
        return (["slurm"] if self._asks_slurm else []) + list(self.settings.flexlm)

    @property
    def _asks_slurm(self) -> bool:
        return self.settings.slurm and self.scontrol is not None

    def update(self, now_ns: int, jobs_live: bool) -> list[dict]:
        now = now_ns / 1e9
        out: list[dict] = []
        s = self.settings
        if self._asks_slurm and (jobs_live or self._slurm.pending):
            out += self._step(self._slurm, self.worker, now, query_slurm, self.scontrol)
        if s.flexlm:
            out += self._step(self._flexlm, self._flexlm_worker, now, query_flexlm, s.lmutil, tuple(s.flexlm))
        return out

    def _step(self, poll: _Poll, worker: Worker, now: float, fn, *args) -> list[dict]:
        if not poll.pending:
            if now >= poll.next:
                poll.pending = worker.submit(poll.key, fn, *args)
            return []
        done, result = worker.collect(poll.key)
        if not done:
            return []
        poll.pending = False
        poll.next = now + self.settings.interval
        if isinstance(result, Exception):
            self._warn((poll.key, "bug"), f"licence query {poll.key} failed: {result!r}")
            return []
        rows, problems = result
        for key, message in problems:
            self._warn(key, message)
            if key[1] == "missing":
                poll.next = now + EMPTY_RETRY_S
        if rows is None:
            return []
        if not rows and poll is self._slurm:     # a cluster without licences
            poll.next = now + EMPTY_RETRY_S
        return rows
