"""Nodes unlike their peers: robust outliers among the nodes of a job or of a day."""
from __future__ import annotations

import math

import numpy as np
import polars as pl

from analyzer import config, metrics

OUTLIER_SCHEMA = {"host": pl.Utf8, "day": pl.Utf8, "peers": pl.Utf8, "n_peers": pl.Int64, "metric": pl.Utf8,
                  "value": pl.Float64, "peer_median": pl.Float64, "score": pl.Float64, "message": pl.Utf8}

def _metric_values(df: pl.DataFrame, metric: str) -> np.ndarray:
    if metric == "net_Bps":
        return (df["net_rx_Bps"].fill_null(np.nan) + df["net_tx_Bps"].fill_null(np.nan)).to_numpy()
    if metric == "disk_Bps":
        return (df["disk_read_Bps"].fill_null(np.nan) + df["disk_write_Bps"].fill_null(np.nan)).to_numpy()
    return df[metric].cast(pl.Float64).fill_null(np.nan).to_numpy()


def robust_outliers(x: np.ndarray, min_diff: float, z: float) -> tuple[np.ndarray, float, np.ndarray]:
    """(flags, median, scores) of one metric over a peer group.

    A value is an outlier when it is at least ``z`` robust standard
    deviations (1.4826 x MAD) *and* ``min_diff`` from the peers' median: the
    MAD alone flags trivial differences when the peers agree closely."""
    ok = np.isfinite(x)
    flags, scores = np.zeros(len(x), dtype=bool), np.zeros(len(x))
    if ok.sum() < config.FLEET_MIN_PEERS:
        return flags, math.nan, scores
    med = float(np.median(x[ok]))
    sigma = 1.4826 * float(np.median(np.abs(x[ok] - med)))
    scale = max(sigma, min_diff / z)
    scores[ok] = np.abs(x[ok] - med) / scale
    flags[ok] = (scores[ok] >= z) & (np.abs(x[ok] - med) >= min_diff)
    return flags, med, scores


FLEET_UNITS = {"job_cpu_pct": "%", "net_Bps": "B/s", "disk_Bps": "B/s", "gap_s": "s", "anomalies": ""}
"""Units of the fleet's own aggregates; the rest are derived metrics (analyzer.metrics)."""


def _fmt(metric: str, x: float) -> str:
    return metrics.show(x, FLEET_UNITS.get(metric, metrics.unit(metric)))


def _group_outliers(df: pl.DataFrame, peers: str, metrics: dict[str, float]) -> list[dict]:
    out = []
    for metric, min_diff in metrics.items():
        x = _metric_values(df, metric)
        flags, med, scores = robust_outliers(x, min_diff, config.FLEET_OUTLIER_Z)
        for i in np.flatnonzero(flags):
            host, day = df["host"][int(i)], df["day"][int(i)]
            out.append({"host": host, "day": day, "peers": peers, "n_peers": int(np.isfinite(x).sum()),
                        "metric": metric, "value": float(x[i]), "peer_median": med,
                        "score": round(float(scores[i]), 2),
                        "message": (f"{host}: {metric} {_fmt(metric, x[i])} vs {_fmt(metric, med)} on its "
                                    f"{int(np.isfinite(x).sum()) - 1} peers ({peers})")})
    return out


def outliers(nodes: pl.DataFrame, job_nodes: pl.DataFrame, node_metrics: tuple[str, ...]) -> pl.DataFrame:
    """Nodes unlike their peers: the other nodes of the same job (on what the
    job does there) and the other nodes of the same day (on health: gaps,
    anomalies, iowait, pressure -- workload metrics differ between jobs by
    design, so they are compared only within a job)."""
    found = []
    for (job,), g in job_nodes.sort("job", "host", "day").group_by("job", maintain_order=True):
        per_host = (g.group_by("host", maintain_order=True)
                    .agg(pl.col("day").first(), *(pl.col(m).mean() for m in ("job_cpu_pct", *node_metrics))))
        if per_host.height >= config.FLEET_MIN_PEERS:
            found += _group_outliers(per_host, f"job {job}", config.FLEET_JOB_METRICS)
    ok = nodes.filter(pl.col("error").is_null())
    for (day,), g in ok.group_by("day", maintain_order=True):
        if g.height >= config.FLEET_MIN_PEERS:
            found += _group_outliers(g, f"day {day}" if day else "same period", config.FLEET_WINDOW_METRICS)
    return pl.DataFrame(found, schema=OUTLIER_SCHEMA).sort("host", "day", "metric")
