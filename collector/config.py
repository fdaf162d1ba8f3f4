"""Settings of the recorder: defaults, a TOML file, then command-line overrides.

The file is the one an administrator writes once per cluster, so every mistake
in it (an unknown key, a string where a number belongs, an interval too short
to be a sane 1 Hz collector) stops the recorder with one line naming the key,
instead of running all night with a setting nobody asked for.

``[record]`` holds the recorder's settings; ``[licences]`` the licence
servers it polls (``collector.licences``):

    [licences]
    slurm = true                      # scontrol show licenses, while a job runs here
    flexlm = ["27000@licsrv"]         # lmutil lmstat -a -c PORT@HOST; none by default
    lmutil = "lmutil"                 # the lmutil to run (a name on PATH or a path)
    interval = 60                     # seconds between polls, at least 60
"""
from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from paratune_base.errors import ParatuneError

COMPRESSIONS = ("none", "lz4", "zstd")
MIN_INTERVAL = 0.1
SECTIONS = ("record", "licences")
"""Top-level tables of paratune.toml: the recorder's settings.  Anything else
is refused rather than silently ignored."""
SYSTEM_CONFIG = Path("/etc/paratune/paratune.toml")
"""Read when no --config is given and it exists (every key is optional, so a
node without it records with the defaults)."""


MIN_LICENCE_INTERVAL = 60.0
"""Licence servers are asked at most once a minute: lmstat -a is not cheap for the server."""


@dataclass(frozen=True)
class LicenceSettings:
    """The ``[licences]`` table: which licence counts the recorder polls."""
    slurm: bool = True                  # Slurm's licences, while a Slurm job runs on the node
    flexlm: tuple[str, ...] = ()        # FlexLM servers, PORT@HOST
    lmutil: str = "lmutil"
    interval: float = MIN_LICENCE_INTERVAL


_FLEXLM_SERVER = re.compile(r"\d*@[A-Za-z0-9._-]+(,\d*@[A-Za-z0-9._-]+)*")


def _licences(table: dict, where: str) -> LicenceSettings:
    """The ``[licences]`` table, checked: one line naming the key for anything wrong."""
    known = ("slurm", "flexlm", "lmutil", "interval")
    values = {}
    for key, value in table.items():
        if key not in known:
            raise ParatuneError(f"{where}: unknown key licences.{key} (known: {', '.join(known)})")
        if key == "slurm":
            if not isinstance(value, bool):
                raise ParatuneError(f"{where}: licences.slurm must be true or false, not {value!r}")
        elif key == "flexlm":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ParatuneError(f"{where}: licences.flexlm must be a list of \"PORT@HOST\" strings, "
                                    f"not {value!r}")
            for v in value:
                if not _FLEXLM_SERVER.fullmatch(v):
                    raise ParatuneError(f"{where}: licences.flexlm entry {v!r} is not PORT@HOST "
                                        "(e.g. \"27000@licsrv\")")
            value = tuple(value)
        elif key == "lmutil":
            if not isinstance(value, str) or not value or value.startswith("-"):
                raise ParatuneError(f"{where}: licences.lmutil must be a command name or path, not {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value < MIN_LICENCE_INTERVAL:
            raise ParatuneError(f"{where}: licences.interval must be a number of seconds, at least "
                                f"{MIN_LICENCE_INTERVAL:g}, not {value!r}")
        else:
            value = float(value)
        values[key] = value
    return LicenceSettings(**values)


@dataclass(frozen=True)
class Config:
    """Everything ``paratune record`` needs; times are seconds."""
    output: Path = Path("paratune-traces")
    interval: float = 1.0
    duration: float | None = None       # None: until SIGTERM
    flush: float = 10.0                 # the most a crash can lose
    rotate: float = 3600.0              # segments start at wall-clock multiples of this
    top_n: int = 20
    min_uid: int = 1000                 # every process of a uid from here up is recorded (people, not services)
    cmdline: bool = False
    compression: str = "zstd"
    proc_root: Path = Path("/proc")
    sys_root: Path = Path("/sys")
    buffer_limit: int = 3600            # samples kept in memory while the disk is full
    prometheus: str | None = None       # [HOST:]PORT of the metrics endpoint; None: no endpoint
    licences: LicenceSettings = LicenceSettings()   # the [licences] table


_KIND = {"output": Path, "proc_root": Path, "sys_root": Path, "interval": float,
         "duration": float, "flush": float, "rotate": float, "top_n": int, "min_uid": int,
         "cmdline": bool, "compression": str, "buffer_limit": int, "prometheus": "address"}
KEYS = tuple(_KIND)
"""The keys of ``[record]`` (and of the command line)."""


def _coerce(key: str, value, where: str):
    """One value of the file or the command line, checked against the key's kind."""
    kind = _KIND[key]
    if kind is Path:
        if not isinstance(value, (str, Path)) or not str(value):
            raise ParatuneError(f"{where}: {key} must be a path (a non-empty string)")
        return Path(value)
    if kind == "address":             # "HOST:PORT", or a bare port number
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise ParatuneError(f"{where}: {key} must be \"HOST:PORT\" or a port number, not {value!r}")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ParatuneError(f"{where}: {key} must be true or false, not {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParatuneError(f"{where}: {key} must be an integer, not {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ParatuneError(f"{where}: {key} must be a number of seconds, not {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ParatuneError(f"{where}: {key} must be a string, not {value!r}")
    return value


def validate(cfg: Config, source: dict[str, str] | None = None) -> Config:
    """Reject values the recorder cannot honour; ``source`` says where each key came from."""
    def bad(key: str, why: str):
        where = (source or {}).get(key, "default")
        raise ParatuneError(f"{where}: {key} {why}")

    if cfg.interval < MIN_INTERVAL:
        bad("interval", f"must be at least {MIN_INTERVAL} s, not {cfg.interval:g}")
    if cfg.duration is not None and cfg.duration <= 0:
        bad("duration", f"must be positive, not {cfg.duration:g} (leave it out to record until stopped)")
    if cfg.flush < cfg.interval:
        bad("flush", f"({cfg.flush:g} s) must be at least the interval ({cfg.interval:g} s)")
    if cfg.rotate < cfg.flush:
        bad("rotate", f"({cfg.rotate:g} s) must be at least flush ({cfg.flush:g} s)")
    if cfg.top_n < 0:
        bad("top_n", f"must be 0 or more, not {cfg.top_n}")
    if cfg.min_uid < 0:
        bad("min_uid", f"must be 0 or more, not {cfg.min_uid}")
    if cfg.buffer_limit < 1:
        bad("buffer_limit", f"must be at least 1, not {cfg.buffer_limit}")
    if cfg.compression not in COMPRESSIONS:
        bad("compression", f"must be one of {', '.join(COMPRESSIONS)}, not {cfg.compression!r}")
    if cfg.prometheus is not None:
        try:
            parse_address(cfg.prometheus)
        except ValueError as exc:
            bad("prometheus", str(exc))
    return cfg


DEFAULT_HOST = "127.0.0.1"
"""Where the metrics endpoint listens unless told otherwise: this node only."""


def parse_address(text: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` -> (host, port); a bare port means loopback.

    Port 0 asks the kernel for a free port.  Names (``localhost``) are allowed;
    whether they resolve is found out when the endpoint binds.
    """
    raw = text.strip()
    if "/" in raw:
        raise ValueError(f"must be PORT or HOST:PORT, without a scheme or path, not {text!r}")
    host, sep, port = raw.rpartition(":")
    if not sep:
        host, port = DEFAULT_HOST, raw
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"must have an IPv6 address inside [...], not {text!r}") from None
    elif ":" in host:
        raise ValueError(f"must be [ADDRESS]:PORT for an IPv6 address, not {text!r}")
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"must have a host before the ':' (or be a bare PORT), not {text!r}")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"must be PORT or HOST:PORT with a port from 0 to 65535, not {text!r}")
    return host, int(port)


def read_file(path: Path) -> dict:
    """The settings of a paratune TOML file, keys checked and coerced: ``[record]``'s
    keys, and ``licences`` when the file has that table."""
    import tomllib      # here: every command's parser loads this module, few read a file
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ParatuneError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ParatuneError(f"cannot read config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParatuneError(f"{path}: not valid TOML: {exc}") from None
    for key, value in doc.items():
        if key not in SECTIONS:
            raise ParatuneError(f"{path}: unknown key {key!r} (expected the tables "
                                + ", ".join(f"[{s}]" for s in SECTIONS) + ")")
        if not isinstance(value, dict):
            raise ParatuneError(f"{path}: {key} must be a table ([{key}])")
    section = doc.get("record", {})
    values = {}
    for key, value in section.items():
        if key not in _KIND:
            raise ParatuneError(f"{path}: unknown key record.{key} (known: {', '.join(KEYS)})")
        values[key] = _coerce(key, value, str(path))
    if "licences" in doc:
        values["licences"] = _licences(doc["licences"], str(path))
    return values


def load_config(path: Path | str | None = None, system: Path | None = None, **overrides) -> Config:
    """Defaults, then ``path`` (TOML; without one ``system``, when it exists), then
    the non-None ``overrides`` (command line).  Under systemd's StateDirectory=
    the default output is that directory ($STATE_DIRECTORY)."""
    cfg, source = Config(), {}
    if os.environ.get("STATE_DIRECTORY"):
        cfg = replace(cfg, output=Path(os.environ["STATE_DIRECTORY"].split(":")[0]))
        source["output"] = "$STATE_DIRECTORY"
    if path is None and system is not None and system.exists():
        path = system
    if path is not None:
        values = read_file(Path(path))
        cfg = replace(cfg, **values)
        source.update(dict.fromkeys(values, str(path)))
    for key, value in overrides.items():
        if key not in _KIND:
            raise ParatuneError(f"unknown setting {key!r}")
        if value is not None:
            cfg = replace(cfg, **{key: _coerce(key, value, "command line")})
            source[key] = "command line"
    return validate(cfg, source)
