"""Output files written whole or not at all, with the project's modes."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from paratune.errors import ParatuneError

FILE_MODE = 0o640


def write_atomic(target: Path, write: Callable[[Path], None], what: str = "") -> None:
    """Call ``write(tmp)`` on a hidden temporary next to ``target``, make it
    0640, fsync it and rename it over ``target``: readers see the old file or
    the new one, never half of one; on failure nothing is left behind."""
    target = Path(target)
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
        raise ParatuneError(f"cannot write {what or target}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
