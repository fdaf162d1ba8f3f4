"""The times --from and --to accept, read the same by ``load`` and by a fleet's planner."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from paratune_base.errors import ParatuneError

_REL = re.compile(r"^\+(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def is_relative(text: str | None) -> bool:
    """A time counted from each trace's first sample (``+N[smhd]``), not a point in time."""
    return text is not None and _REL.match(text.strip()) is not None


def parse_time(text: str | None, origin: float | None = None) -> float | None:
    """ISO 8601 (naive = UTC), epoch seconds, or '+N[smhd]' after ``origin``."""
    if text is None:
        return None
    m = _REL.match(text.strip())
    if m:
        if origin is None:
            raise ParatuneError(f"relative time {text!r} needs a trace start")
        return origin + float(m.group(1)) * _UNIT[m.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ParatuneError(f"cannot read time {text!r}: use ISO 8601, epoch seconds or +N[smhd]") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def iso_utc(t: float) -> str:
    """A time as the error messages show it: ISO 8601, UTC, to the second."""
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
