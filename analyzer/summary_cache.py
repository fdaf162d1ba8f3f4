"""Fleet summaries of finished node-days, kept so a cluster's history is analysed once.

A unit's summary (``fleet.summarize``) is a function of its files' bytes and
of the code that reads and analyses them, so the key hashes both: each
file's path, size and modification time, the time range, the source of
``analyzer/`` and ``collector/`` and the versions of paratune and of the
libraries that compute with it.  A rewritten file, an edited threshold or an
upgrade misses.  Units with a file still being written (``.part``) or one
that could not be read are never kept; a unit without a sample in the time
range is (that answer depends on nothing but the key).

Entries are gzipped JSON -- not pickle: a cache directory must not be a way
to run code -- written under a unique temporary name and renamed, mode 0600
in 0700 directories (summaries name users and jobs).  A directory that
another user owns or may write to is not used: whoever can plant entries
can forge a report.  No fsync: a lost or torn entry (gzip's CRC catches it)
is only recomputed.  Each code version has its own sub-directory; one that no
paratune has used for ``STALE_VERSION_S`` is removed.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import stat
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from analyzer.fleet_units import Unit
from collector.reader import PART_SUFFIX

CACHE_FORMAT = "1"
ENTRY_MODE = 0o600
_PACKAGES = ("analyzer", "collector")
_LIBRARIES = ("paratune", "numpy", "numba", "polars", "pyarrow")
STALE_VERSION_S = 30 * 86_400
"""A code version's entries are removed once no paratune has used them for
this long.  Every upgrade starts a sub-directory of its own, and a nightly
fleet run would otherwise keep each version's copy of the history for good;
another install still in use marks its own each time it runs."""
_VERSION_DIR = re.compile(r"[0-9a-f]{16}")
VERSION_MARK = ".last-used"
"""In each version's directory; its time is when a paratune of that version last ran."""


def default_root() -> Path:
    """``$PARATUNE_CACHE``, else ``$XDG_CACHE_HOME/paratune``, else ``~/.cache/paratune``; plus ``/fleet``."""
    if os.environ.get("PARATUNE_CACHE"):
        return Path(os.environ["PARATUNE_CACHE"]) / "fleet"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "paratune" / "fleet"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of every module that decides what a summary holds, and of the
    versions of the libraries it computes with."""
    h = hashlib.sha256(CACHE_FORMAT.encode())
    for lib in _LIBRARIES:
        try:
            h.update(f"{lib}={importlib.metadata.version(lib)}\0".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{lib}=?\0".encode())
    root = Path(__file__).resolve().parents[1]
    for pkg in _PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _private_dir(path: Path, create: bool = True) -> bool:
    """True when ``path`` is a directory of this user that nobody else may
    write to; made (0700) first if ``create`` and it is missing."""
    try:
        if create:
            path.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


class SummaryCache:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.dir = self.root / code_version()
        self.hits = 0
        self._private: set[Path] = set()      # sub-directories already checked
        try:
            self.root.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            pass
        # False when the directory is another user's or shared: then nothing
        # is read or kept, and ``paratune analyze`` says so
        self.usable = _private_dir(self.root) and _private_dir(self.dir)
        if self.usable:
            self._prune_stale_versions()

    def _prune_stale_versions(self) -> None:
        """Mark this version's directory as used now; remove other versions'
        directories (real ones of ours, with a mark) not used for
        ``STALE_VERSION_S``.  Only marked ones: ``--cache DIR`` may be any
        directory, and what else is in it is not ours to remove."""
        try:
            mark = self.dir / VERSION_MARK
            mark.touch(mode=ENTRY_MODE)          # now, whether new or not
            siblings = list(os.scandir(self.root))
        except OSError:
            return
        for d in siblings:
            if d.name == self.dir.name or not _VERSION_DIR.fullmatch(d.name):
                continue
            try:
                st, used = d.stat(follow_symlinks=False), os.lstat(os.path.join(d.path, VERSION_MARK))
            except OSError:              # gone, or no mark: not a version of ours
                continue
            if (stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and stat.S_ISREG(used.st_mode)
                    and time.time() - used.st_mtime > STALE_VERSION_S):
                shutil.rmtree(d.path, ignore_errors=True)

    def key(self, unit: Unit, start: str | None, end: str | None) -> str | None:
        """The unit's key, or None when it must not be cached."""
        h = hashlib.sha256(json.dumps([start, end]).encode())
        for f in unit.files:
            if f.endswith(PART_SUFFIX):
                return None
            try:
                st = os.stat(f)
            except OSError:
                return None
            h.update(f"{os.path.abspath(f)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        return h.hexdigest()

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json.gz"

    def _checked(self, d: Path, create: bool) -> bool:
        if d not in self._private and _private_dir(d, create):
            self._private.add(d)
        return d in self._private

    def get(self, key: str | None) -> dict | None:
        if key is None or not self.usable or not self._checked(self.path(key).parent, create=False):
            return None
        try:
            summary = json.loads(gzip.decompress(self.path(key).read_bytes()))
        except (OSError, EOFError, ValueError, zlib.error):
            return None          # absent, unreadable or torn: recompute
        self.hits += 1
        return summary

    def put(self, key: str | None, summary: dict) -> None:
        """Keep a summary; a cache that cannot be written only costs time."""
        if key is None or not self.usable or summary["node"].get("error") or summary.get("damaged"):
            return
        path = self.path(key)
        if not self._checked(path.parent, create=True):
            return
        data = gzip.compress(json.dumps(summary, separators=(",", ":")).encode(), compresslevel=6)
        try:
            fd, tmp = tempfile.mkstemp(prefix=".", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    os.fchmod(fh.fileno(), ENTRY_MODE)
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            return


def summaries(units: list[Unit], start: str | None, end: str | None, cache: SummaryCache | None,
              workers: int | None = None, scheduler: str | None = None,
              on_done: Callable[[], None] | None = None) -> Iterator[dict]:
    """Every unit's summary, as each is ready: from ``cache`` where it holds
    one, else analysed (local workers or Dask) and kept there.  ``on_done``
    is called as each unit is done, cached or not (a progress bar)."""
    from analyzer.parallel import iter_units

    keys = {(u.host, u.day): cache.key(u, start, end) for u in units} if cache else {}
    todo = []
    for u in units:
        result = cache.get(keys[u.host, u.day]) if cache else None
        if result:
            if on_done:
                on_done()
            yield result
        else:
            todo.append(u)
    for result in iter_units(todo, start, end, workers, scheduler):
        if on_done:
            on_done()
        if cache:
            cache.put(keys[result["node"]["host"], result["node"]["day"]], result)
        yield result
