"""The run-characteristic database: one Parquet row per run, in a directory.

Why Parquet files in a directory (not SQLite or DuckDB): the rows are wide
(one column per fingerprint feature) and written once, read whole — a
columnar format is the right shape, polars reads a million rows of it in well
under a second, and every BI tool (polars, DuckDB, Spark, pandas) reads the
directory with no paratune code: ``duckdb.sql("select label, count(*) from
'DB/runs-*.parquet' group by label")``.  Each ``db add`` writes one new file
(atomically: temp file, fsync, rename), so concurrent readers never see a
half-written row and a crash loses nothing already stored.  ``remove``
rewrites the one file that holds the row, also atomically.
"""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import numpy as np
import polars as pl

from analyzer import config
from analyzer.pipeline import Analysis
from analyzer.fingerprint import feature_names
from analyzer.rules import KINDS
from analyzer.recognition import Index, index_key
from paratune_base.errors import ParatuneError
from paratune_base.files import write_atomic

FEATURE_PREFIX = "f."
FILE_GLOB = "runs-*.parquet"


def default_path() -> Path:
    """$PARATUNE_DB (a site-wide database every admin shares), else the user's own."""
    if os.environ.get("PARATUNE_DB"):
        return Path(os.environ["PARATUNE_DB"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "paratune" / "db"


def record_of(a: Analysis, label: str | None) -> dict:
    """One database row from an analysis: metadata, counts and every feature."""
    d, tr = a.derived, a.trace
    users = a.processes.filter(pl.col("share") > 0.05)["user"].drop_nulls().unique().to_list()
    row = {
        "id": secrets.token_hex(6),
        "added": time.time(),
        "label": label,
        "job": tr.job,
        "user": ",".join(sorted(users)) or None,
        "hosts": [tr.host],
        "start": float(d.t[0]),
        "duration_s": float(d.t[-1] - d.t[0] + d.interval_s),
        "samples": d.n,
        "cores": int(tr.metadata.get("cores") or 0),
        "command": a.run.comm,
        "bottleneck": a.characterization.label,
        "cpu_busy_pct": float(np.nanmean(d.metrics["cpu_busy_pct"])) if d.n > 1 else float("nan"),
        "cpu_hours": float(a.processes["cpu_s"].sum() or 0.0) / 3600.0,
        "anomalies": len(a.anomalies),
        **{f"anomalies.{k}": sum(x.kind == k for x in a.anomalies) for k in KINDS},
        "fingerprint_version": a.fingerprint.version,
        "source": ",".join(str(f) for f in tr.files),
        "finished": not any(str(f).endswith(".part") for f in tr.files),
    }
    row.update({FEATURE_PREFIX + k: float(v) for k, v in a.fingerprint.features.items()})
    return row


def job_record(j, label: str | None) -> dict:
    """One row for a whole job: the nodes' records combined, the job-level features."""
    rows = [record_of(a, label) for a in j.nodes]
    row = dict(rows[0])
    row["hosts"] = [a.trace.host for a in j.nodes]
    row["source"] = ",".join(r["source"] for r in rows)
    row["finished"] = all(r["finished"] for r in rows)
    row["start"] = min(r["start"] for r in rows)
    row["duration_s"] = max(r["start"] + r["duration_s"] for r in rows) - row["start"]
    row["samples"] = sum(r["samples"] for r in rows)
    row["cpu_hours"] = sum(r["cpu_hours"] for r in rows)
    row["cpu_busy_pct"] = float(np.nanmean([r["cpu_busy_pct"] for r in rows]))
    row["anomalies"] = sum(r["anomalies"] for r in rows) + len(j.anomalies)
    for k in KINDS:
        row[f"anomalies.{k}"] = sum(r[f"anomalies.{k}"] for r in rows) + sum(x.kind == k for x in j.anomalies)
    row.update({FEATURE_PREFIX + k: float(v) for k, v in j.features.items() if FEATURE_PREFIX + k in SCHEMA})
    return row


def _schema() -> dict:
    s = {"id": pl.Utf8, "added": pl.Float64, "label": pl.Utf8, "job": pl.Utf8, "user": pl.Utf8,
         "hosts": pl.List(pl.Utf8), "start": pl.Float64, "duration_s": pl.Float64, "samples": pl.Int64,
         "cores": pl.Int64, "command": pl.Utf8, "bottleneck": pl.Utf8, "cpu_busy_pct": pl.Float64,
         "cpu_hours": pl.Float64, "anomalies": pl.Int64}
    s.update({f"anomalies.{k}": pl.Int64 for k in KINDS})
    s["fingerprint_version"] = pl.Int64
    s["source"] = pl.Utf8          # the trace files the run was read from
    s["finished"] = pl.Boolean     # False: read from a .part still being written
    s.update({FEATURE_PREFIX + n: pl.Float32 for n in feature_names()})
    return s


SCHEMA = _schema()


class Database:
    """A directory of ``runs-*.parquet`` files; see the module docstring."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_path()
        if self.path.exists() and not self.path.is_dir():
            raise ParatuneError(f"database {self.path} is not a directory")

    def files(self) -> list[Path]:
        return sorted(self.path.glob(FILE_GLOB)) if self.path.is_dir() else []

    def _write(self, df: pl.DataFrame, target: Path) -> None:
        write_atomic(target, lambda tmp: df.write_parquet(tmp, compression="zstd"),
                     f"the database at {self.path}")

    def add(self, rows: list[dict]) -> list[str]:
        """Store ``rows``; a run already stored (same hosts, start, length and job,
        whatever its label) is not stored twice: its id comes back as None."""
        if not rows:
            return []
        stored = {self._key(r) for r in self.table(["hosts", "start", "duration_s", "job"]).to_dicts()}
        fresh = [r for r in rows if self._key(r) not in stored]
        ids = {id(r): r["id"] for r in fresh}
        if not fresh:
            return [None] * len(rows)
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o750)
        except OSError as exc:
            raise ParatuneError(f"cannot create the database at {self.path}: {exc.strerror}") from None
        df = pl.DataFrame(fresh, schema=SCHEMA)
        name = f"runs-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(4)}.parquet"
        self._write(df, self.path / name)
        return [ids.get(id(r)) for r in rows]

    @staticmethod
    def _key(row: dict) -> tuple:
        """What makes two rows the same run: its content, not the id, label or path."""
        return (tuple(sorted(row["hosts"] or [])), round(float(row["start"]), 3),
                round(float(row["duration_s"]), 3), row["job"])

    def scan(self) -> pl.LazyFrame:
        files = self.files()
        if not files:
            return pl.DataFrame(schema=SCHEMA).lazy()
        try:
            # files of an older fingerprint version lack the newer feature columns
            return pl.scan_parquet([str(f) for f in files], missing_columns="insert", extra_columns="ignore",
                                   schema=SCHEMA)
        except Exception as exc:  # polars raises several types for a damaged file
            raise ParatuneError(f"cannot read the database at {self.path}: {str(exc).splitlines()[0]}") from None

    def table(self, columns=None) -> pl.DataFrame:
        lf = self.scan()
        try:
            return (lf.select(columns) if columns else lf).collect()
        except Exception as exc:
            raise ParatuneError(f"cannot read the database at {self.path}: {str(exc).splitlines()[0]}") from None

    def get(self, run_id: str) -> dict:
        df = self.scan().filter(pl.col("id") == run_id).collect()
        if df.height == 0:
            raise ParatuneError(f"no run {run_id!r} in {self.path}")
        return df.row(0, named=True)

    def remove(self, run_id: str) -> None:
        for f in self.files():
            df = pl.read_parquet(f)
            if run_id in df["id"].to_list():
                rest = df.filter(pl.col("id") != run_id)
                if rest.height:
                    self._write(rest, f)
                else:
                    f.unlink()
                return
        raise ParatuneError(f"no run {run_id!r} in {self.path}")

    def features(self, version: int = config.FINGERPRINT_VERSION) -> tuple[pl.DataFrame, np.ndarray, list[str]]:
        """Metadata, the (N, F) float32 feature matrix and the feature names of one version."""
        names = list(feature_names())
        cols = [FEATURE_PREFIX + n for n in names]
        df = self.scan().filter(pl.col("fingerprint_version") == version).collect()
        matrix = df.select(cols).to_numpy().astype(np.float32, copy=False) if df.height else np.empty((0, len(cols)), np.float32)
        return df.select("id", "label", "job", "hosts", "start", "duration_s", "command"), matrix, names

    def index(self) -> Index:
        """The similarity index of the labelled runs, cached under .index/ until the files change."""
        key = index_key(self.files(), config.FINGERPRINT_VERSION)
        cache = self.path / ".index"
        idx = Index.load(cache, key)
        if idx is None:
            idx = Index.build(*self.features())
            try:
                for old in cache.glob("*"):
                    old.unlink()
                idx.save(cache, key)
            except OSError:
                pass          # a read-only database still answers, just without the cache
        return idx
