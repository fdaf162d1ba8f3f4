"""Which application a run is: robust scaling, feature selection, the nearest labelled runs, `unknown`.

Only the behaviour features (analyzer/behaviour.py: steady state, shares,
intensities per CPU-second, per rank) are compared, so a run of another
length, rank count or node, or a renamed binary, still lands near its
application.  They are centred on the database median and divided by each
feature's run-to-run noise (SIMILARITY_NOISE: its spread among runs of one
application, measured on the calibration set), so a distance counts noise
levels and a few bytes of background traffic are no signature.  Scores are
clipped, then the features that best separate the labelled applications
(between-label over within-label variance) are kept.

A run is its nearest label's when its distance is within that label's own
reach: UNKNOWN_SPREAD times the label's radius (the 95th percentile of its
runs' distances to their nearest other run of the label), and never less
than UNKNOWN_MIN_DISTANCE.  A tight application rejects a stranger sooner
than a varied one.  The run's command name is evidence too: a command that
only one stored label has names that label, whatever the distance.  Host
names and job ids are never used.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from analyzer import config
from analyzer.nearest_search import encode, nearest_labels, nearest_of_label, quantize


def usable(names) -> np.ndarray:
    """Indices of the features similarity may use: the behaviour features."""
    return np.array([i for i, n in enumerate(names) if n in config.SIMILARITY_NOISE], dtype=np.int64)


def floors(names) -> np.ndarray:
    return np.array([config.SIMILARITY_NOISE.get(n, 1.0) for n in names], dtype=np.float64)


@dataclass
class Scaler:
    names: list[str]
    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, matrix: np.ndarray, names: list[str], rng_seed: int = 0) -> "Scaler":
        m = matrix
        if m.shape[0] > config.SIMILARITY_SAMPLE:
            rows = np.random.default_rng(rng_seed).choice(m.shape[0], config.SIMILARITY_SAMPLE, replace=False)
            m = m[np.sort(rows)]
        m = m.astype(np.float64)
        if m.shape[0] == 0:
            center = np.zeros(len(names))
        else:
            with warnings.catch_warnings():   # an all-NaN feature gives NaN, set to 0 below
                warnings.simplefilter("ignore", RuntimeWarning)
                center = np.nanmedian(m, axis=0)
        return cls(list(names), np.nan_to_num(center), floors(names))

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        z = (np.asarray(matrix, dtype=np.float64) - self.center) / self.scale
        z = np.clip(np.nan_to_num(z, nan=0.0), -config.SIMILARITY_CLIP, config.SIMILARITY_CLIP)
        return z.astype(np.float32)


def fisher_select(z: np.ndarray, labels: list, k: int) -> np.ndarray:
    """Columns of z that best separate the labels (all columns with < 2 labels)."""
    lab = np.array([l if l is not None else "" for l in labels])
    known = lab != ""
    groups = [g for g in np.unique(lab[known])]
    if len(groups) < 2 or z.shape[1] <= k:
        return np.arange(z.shape[1])
    means = np.stack([z[lab == g].mean(axis=0) for g in groups])
    within = np.mean(np.stack([z[lab == g].var(axis=0) for g in groups]), axis=0)
    ratio = means.var(axis=0) / (within + 0.05)
    return np.sort(np.argsort(-ratio, kind="stable")[:k])


INDEX_FORMAT = 3
"""Bumped when the cached files change; a cache of another format is rebuilt."""


@dataclass
class Index:
    """What a query is compared against: scaled, selected features of every labelled run,
    their int8 codes for the distance bounds, and label/command codes."""
    scaler: Scaler
    columns: np.ndarray                 # selected columns of the usable features
    matrix: np.ndarray                  # (N, K) float32
    ids: np.ndarray                     # (N,) str
    label_codes: np.ndarray             # (N,) int32 into label_names
    label_names: list[str]
    codes: np.ndarray                   # (N, K) int8, analyzer.nearest_search.quantize
    errors: np.ndarray                  # (N,) float64 rounding-error norm of each row
    command_codes: np.ndarray | None = None   # (N,) int32 into command_names: each run's main command
    command_names: list[str] = field(default_factory=list)
    radius: np.ndarray | None = None    # (labels,) each label's own spread (see the module doc)

    @classmethod
    def of(cls, scaler: Scaler, columns, matrix, ids, labels, commands=None) -> "Index":
        """An index of already scaled and selected rows (codes and bounds derived here)."""
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        label_codes, label_names = encode(labels)
        command_codes, command_names = encode(commands) if commands is not None else (None, [])
        codes, errors = quantize(matrix)
        return cls(scaler, np.asarray(columns, dtype=np.int64), matrix, np.asarray(ids, dtype=str),
                   label_codes, label_names, codes, errors, command_codes, command_names,
                   label_radii(matrix, label_codes, len(label_names)))

    @classmethod
    def build(cls, meta: pl.DataFrame, matrix: np.ndarray, names: list[str]) -> "Index":
        use = usable(names)
        labelled = meta["label"].is_not_null().to_numpy()
        scaler = Scaler.fit(matrix[labelled][:, use], [names[i] for i in use])
        z = scaler.transform(matrix[labelled][:, use])
        labels = meta.filter(pl.Series(labelled))["label"].to_list()
        cols = fisher_select(z, labels, config.SIMILARITY_FEATURES)
        kept = meta.filter(pl.Series(labelled))
        commands = kept["command"].fill_null("").to_list() if "command" in kept.columns else None
        return cls.of(scaler, cols, z[:, cols], kept["id"].to_list(), labels, commands)

    def scaled(self, vector: np.ndarray, names: list[str]) -> np.ndarray:
        """A full feature vector as the index stores rows: scaled, clipped, selected (float32)."""
        pos = {n: i for i, n in enumerate(names)}
        v = np.array([vector[pos[n]] for n in self.scaler.names])
        return np.ascontiguousarray(self.scaler.transform(v[None, :])[0][self.columns])

    # ---- cache on disk, so a query against a million runs only maps the arrays
    _ARRAYS = ("matrix", "codes", "errors", "ids", "label_codes", "command_codes", "radius")

    def save(self, d: Path, key: str) -> None:
        d.mkdir(parents=True, exist_ok=True, mode=0o750)
        for a in self._ARRAYS:
            if getattr(self, a) is not None:
                np.save(d / f"{key}.{a}.npy", getattr(self, a))
        (d / f"{key}.json").write_text(json.dumps({
            "format": INDEX_FORMAT, "names": self.scaler.names, "center": self.scaler.center.tolist(),
            "scale": self.scaler.scale.tolist(), "columns": self.columns.tolist(),
            "label_names": self.label_names, "command_names": self.command_names}))

    @classmethod
    def load(cls, d: Path, key: str) -> "Index | None":
        try:
            meta = json.loads((d / f"{key}.json").read_text())
            if meta.get("format") != INDEX_FORMAT:
                return None
            arrays = {a: np.load(d / f"{key}.{a}.npy", mmap_mode="r") for a in cls._ARRAYS
                      if a != "command_codes" or (d / f"{key}.{a}.npy").exists()}
        except (OSError, ValueError, KeyError):
            return None
        return cls(Scaler(meta["names"], np.array(meta["center"]), np.array(meta["scale"])),
                   np.array(meta["columns"], dtype=np.int64), label_names=meta["label_names"],
                   command_names=meta["command_names"], **arrays)


@dataclass
class Classification:
    label: str
    score: float
    distance: float
    candidates: list[dict] = field(default_factory=list)
    by: str = "behaviour"             # what decided: "behaviour", or "name" (a command only one label has)
    threshold: float = float("nan")   # the decided label's distance threshold

    def to_dict(self) -> dict:
        return {"label": self.label, "by": self.by, "score": round(self.score, 4),
                "distance": round(self.distance, 4), "threshold": round(self.threshold, 4),
                "candidates": self.candidates}


RADIUS_SAMPLE = 200
"""Runs of one label whose nearest neighbours measure its radius (a sample beyond)."""


def label_radii(matrix: np.ndarray, label_codes: np.ndarray, n_labels: int) -> np.ndarray:
    """Each label's radius: the 95th percentile of its runs' distances to the
    nearest other run of the label (RMS over the selected features).  A label
    with one run gets the median radius of the others (NaN when none has two)."""
    out = np.full(n_labels, np.nan)
    rng = np.random.default_rng(0)
    m = np.asarray(matrix, dtype=np.float64)
    for lab in range(n_labels):
        rows = np.flatnonzero(np.asarray(label_codes) == lab)
        if rows.size < 2:
            continue
        probe = rows if rows.size <= RADIUS_SAMPLE else np.sort(rng.choice(rows, RADIUS_SAMPLE, replace=False))
        d = np.sqrt(((m[probe, None, :] - m[None, rows, :]) ** 2).mean(axis=2))
        d[probe[:, None] == rows[None, :]] = np.inf
        out[lab] = float(np.percentile(d.min(axis=1), 95))
    if np.isfinite(out).any():
        out[~np.isfinite(out)] = np.nanmedian(out)
    return out


def threshold_of(index: "Index", label: int) -> float:
    """The distance within which a run is ``label``'s (see the module doc)."""
    r = index.radius[label] if index.radius is not None and label < len(index.radius) else np.nan
    reach = config.UNKNOWN_SPREAD * r if np.isfinite(r) else 0.0
    return float(max(reach, config.UNKNOWN_MIN_DISTANCE))


def score_of(distance: float, threshold: float) -> float:
    """Similarity in (0, 1]: 1 for identical runs, 0.5 at the label's threshold."""
    return float(1.0 / (1.0 + distance / threshold))


def named_label(index: "Index", command: str | None) -> int:
    """The label whose runs alone have this main command, else -1."""
    if not command or index.command_codes is None or command not in index.command_names:
        return -1
    code = index.command_names.index(command)
    labels = np.unique(np.asarray(index.label_codes)[np.asarray(index.command_codes) == code])
    return int(labels[0]) if labels.size == 1 else -1


def classify(index: Index, vector: np.ndarray, names: list[str], top: int = 5,
             command: str | None = None) -> Classification:
    """The nearest labelled runs by behaviour; the label is the nearest one's
    when within its threshold, or the one the command names; else ``unknown``."""
    if len(index.ids) == 0:
        return Classification("unknown", 0.0, float("inf"), [])
    query = index.scaled(vector, names)
    near = nearest_labels(index.matrix, index.codes, index.errors, query, index.label_codes,
                          len(index.label_names), top)
    by_label = {lab: (d, row) for lab, d, row in near}
    cands = [{"label": index.label_names[lab], "score": round(score_of(d, threshold_of(index, lab)), 4),
              "distance": round(d, 4), "threshold": round(threshold_of(index, lab), 4), "id": str(index.ids[row])}
             for lab, d, row in near[:top]]
    named = named_label(index, command)
    if named >= 0 and named not in by_label:
        by_label[named] = nearest_of_label(index.matrix, query, index.label_codes, named)
    lab, (d0, _) = (named, by_label[named]) if named >= 0 else (near[0][0], near[0][1:])
    thr = threshold_of(index, lab)
    label = index.label_names[lab] if named >= 0 or d0 <= thr else "unknown"
    return Classification(label, score_of(d0, thr), d0, cands, by="name" if named >= 0 else "behaviour",
                          threshold=thr)


def index_key(files: list[Path], version: int) -> str:
    """Names the cached index: the files, the fingerprint version and every
    setting that shapes the index (a recalibrated paratune rebuilds it)."""
    settings = (config.SIMILARITY_NOISE, config.SIMILARITY_CLIP, config.SIMILARITY_FEATURES,
                config.UNKNOWN_SPREAD, config.UNKNOWN_MIN_DISTANCE)
    h = hashlib.sha256(f"v{version} {settings!r}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]
