"""Output files written whole or not at all, with the project's modes."""
from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from paratune_base.errors import ParatuneError

FILE_MODE = 0o640
MACHINE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS)
"""Write failures of the machine, not of the request: exit 1, as a full stdout
is; a target the user can correct (a missing directory, no permission) is 2."""

_KINDS = {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFIFO: "a FIFO",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory"}


def output_file(target: Path) -> Path:
    """The regular file to replace for ``target``: the path itself, or what a
    symlink to a regular file points at (so the link survives).  Anything else
    that exists there (a device, a FIFO, a socket, a directory, a link to one of
    those or to nowhere) is refused: renaming over it would destroy it, and as
    root that includes /dev/null."""
    target = Path(target)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise ParatuneError(f"cannot write {target}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(target)
        except OSError:
            raise ParatuneError(f"{target} is a symbolic link to nothing; refusing to replace it") from None
        if stat.S_ISREG(st.st_mode):
            return Path(os.path.realpath(target))
        raise ParatuneError(f"{target} is a symbolic link to {_KINDS.get(stat.S_IFMT(st.st_mode), 'a special file')}"
                            "; refusing to replace it")
    if not stat.S_ISREG(st.st_mode):
        raise ParatuneError(f"{target} is {_KINDS.get(stat.S_IFMT(st.st_mode), 'a special file')}, "
                            "not a regular file; refusing to replace it")
    return target


def output_dir(target: Path) -> Path:
    """``target`` as a directory to write into: refused if something else is there."""
    target = Path(target)
    if os.path.lexists(target) and not target.is_dir():
        raise ParatuneError(f"{target} exists and is not a directory")
    return target


def _errno(exc: OSError) -> int | None:
    """The errno of a failed write; polars and Arrow report theirs only in the
    message ("... (os error 28)")."""
    if exc.errno is not None:
        return exc.errno
    m = re.search(r"os error (\d+)", str(exc))
    return int(m.group(1)) if m else None


def write_atomic(target: Path, write: Callable[[Path], None], what: str = "") -> None:
    """Call ``write(tmp)`` on a hidden temporary next to ``target``, make it
    0640, fsync it and rename it over ``target``: readers see the old file or
    the new one, never half of one; on failure nothing is left behind.  Only a
    regular file is ever replaced (see ``output_file``)."""
    target = output_file(target)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fchmod(fd, FILE_MODE)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ParatuneError(f"cannot write {what or target}: {exc.strerror or exc}",
                            1 if _errno(exc) in MACHINE_ERRORS else 2) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
