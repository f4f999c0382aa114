"""Dataset statistics: valid share, quantiles, class shares, joint classes (``dataset info``).

Works on label columns only (numpy), so it describes a shipped benchmark and the original OCB
label CSVs (``perform101.csv``/``perform301.csv``) the same way, side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..spec import BW_OFFSET, GAIN_OFFSET, PM_OFFSET
from .store import Benchmark, label_columns, stability_measured

QUANTILES = (0.05, 0.25, 0.50, 0.75, 0.95)
ATTRIBUTES = ("gain", "bw", "pm")


@dataclass(frozen=True)
class Labels:
    """The label columns statistics need, one entry per row (rows ``:n_train`` are train).

    ``gain``/``bw``/``pm``/``fom`` are the CSV-normalised columns; ``*_cls`` the classes
    (invalid rows (0, 0, 0), as CktGen's loader assigns). ``stable``, ``cl_stable`` and
    ``working`` (both stable, gain above 0 dB) are None where stability was not measured.
    """

    valid: np.ndarray
    gain: np.ndarray
    bw: np.ndarray
    pm: np.ndarray
    fom: np.ndarray
    gain_cls: np.ndarray
    bw_cls: np.ndarray
    pm_cls: np.ndarray
    n_train: int
    stable: np.ndarray | None = None
    cl_stable: np.ndarray | None = None
    working: np.ndarray | None = None

    @classmethod
    def of(cls, bench: Benchmark) -> Labels:
        keys = ("valid", "gain", "bw", "pm", "fom", "gain_cls", "bw_cls", "pm_cls")
        cols = {k: bench.arrays[k] for k in keys}
        if stability_measured(bench.manifest):
            cols.update(
                stable=bench["stable"],
                cl_stable=bench["cl_stable"],
                working=working_rows(bench["stable"], bench["cl_stable"], bench["gain_db"]),
            )
        return cls(**cols, n_train=bench.n_train)

    @classmethod
    def from_csv(cls, path: str | Path, n_train: int | None = None) -> Labels:
        """Read an OCB perform CSV (``,valid,gain,pm,bw,fom``); default split 90/10 or 80/20."""
        from .ocb import read_perform_csv

        cols = read_perform_csv(path)
        valid = cols.pop("valid")
        rows = valid
        if n_train is None:
            n_train = 40000 if len(rows) == 50000 else round(0.9 * len(rows))
        classes = {
            f"{k}_cls": np.where(valid, np.floor(cols[k]), 0).astype(np.int16) for k in ATTRIBUTES
        }
        return cls(valid=valid, **cols, **classes, n_train=n_train)

    def joint(self) -> np.ndarray:
        """CktGen's joint key gain + 1000·bw + 10⁶·pm per row."""
        g, b, p = (x.astype(np.int64) for x in (self.gain_cls, self.bw_cls, self.pm_cls))
        return g + 1000 * b + 1_000_000 * p


def working_rows(stable: np.ndarray, cl_stable: np.ndarray, gain_db: np.ndarray) -> np.ndarray:
    """Working amplifiers (``Measurement.works``): both verdicts stable, gain above 0 dB
    (a NaN gain, not measured, is not above 0 dB)."""
    return stable & cl_stable & (np.nan_to_num(gain_db, nan=0.0) > 0.0)


def stability_shares(labels: Labels) -> dict[str, Any] | None:
    """Rows and share of all rows: stable open loop, stable at unity gain, both, working.
    None when stability was not measured."""
    if labels.stable is None:
        return None
    cols = {
        "stable": labels.stable,
        "cl_stable": labels.cl_stable,
        "both": labels.stable & labels.cl_stable,
        "working": labels.working,
    }
    n = max(len(labels.valid), 1)
    return {k: {"rows": int(v.sum()), "share": float(v.sum() / n)} for k, v in cols.items()}


def clean_rows(labels: Labels) -> tuple[np.ndarray, np.ndarray, set[int]]:
    """CktGen's cleaning of the labels' split: kept train rows, kept test rows, train keys."""
    key = labels.joint()
    rows = np.arange(len(key))
    train, test, train_keys, _ = clean_split(
        key, labels.pm, rows[: labels.n_train], rows[labels.n_train :]
    )
    return train, test, set(train_keys.tolist())


def clean_split(
    key: np.ndarray, pm: np.ndarray, train: np.ndarray, test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """CktGen's ``clean_datasets`` (docs/benchmark.md §5.1) on train and test row indices.

    Training keys are counted on the given train rows; train rows with pm < 0 are dropped;
    test rows with pm < 0 or a key outside the training keys are dropped. Used by
    ``dataset.clean`` (training) and ``clean_rows`` (statistics).

    Args:
        key: joint class key per row (``gain + 1000·bw + 10⁶·pm``).
        pm: the CSV-normalised pm column per row.

    Returns:
        Kept train rows, kept test rows, the sorted training keys and the dropped counts
        ``train_pm``, ``test_pm`` (pm < 0) and ``test_domain`` (key not in train).
    """
    train_keys = np.unique(key[train])
    test_ok = pm[test] >= 0
    known = np.isin(key[test], train_keys)
    counts = {
        "train_pm": int((pm[train] < 0).sum()),
        "test_pm": int((~test_ok).sum()),
        "test_domain": int((test_ok & ~known).sum()),
    }
    return train[pm[train] >= 0], test[test_ok & known], train_keys, counts


def _shares(cls: np.ndarray, n_classes: int | None = None) -> list[float]:
    counts = np.bincount(cls.astype(np.int64), minlength=n_classes or 0)
    return (counts / max(len(cls), 1)).tolist()


def summarize(labels: Labels) -> dict[str, Any]:
    """Counts, valid share, quantiles, class shares, joint-class counts and stability shares
    (``stability_shares``; None when not measured), JSON-ready.

    Class shares are over all rows with pm ≥ 0 (invalid rows in class 0), as docs/benchmark.md §6
    reports them; quantiles of the normalised columns are over valid rows. Physical units:
    gain dB = (gain − 1.19531)·100, UGF GHz = bw − 0.00001, PM ° = −(pm − 2.00001)·90.
    """
    v = labels.valid
    keep = labels.pm >= 0
    keep_train, keep_test, _ = clean_rows(labels)
    joint = labels.joint()
    physical = {
        "gain_db": (labels.gain[v] - GAIN_OFFSET) * 100,
        "ugf_ghz": labels.bw[v] - BW_OFFSET,
        "pm_deg": -(labels.pm[v] - PM_OFFSET) * 90,
        "fom": labels.fom[v],
    }
    return {
        "rows": int(len(v)),
        "train": int(labels.n_train),
        "test": int(len(v) - labels.n_train),
        "valid": int(v.sum()),
        "valid_share": float(v.mean()) if len(v) else 0.0,
        "quantiles": {
            k: dict(zip((f"{q:.0%}" for q in QUANTILES), np.quantile(x, QUANTILES).tolist()))
            for k, x in physical.items()
            if len(x)
        },
        "class_shares": {k: _shares(getattr(labels, f"{k}_cls")[keep]) for k in ATTRIBUTES},
        "joint_classes": {
            "all": int(len(np.unique(joint[keep]))),
            "train": int(len(np.unique(joint[keep_train]))),
            "test": int(len(np.unique(joint[keep_test]))),
        },
        "cleaned": {"train": int(len(keep_train)), "test": int(len(keep_test))},
        "stability": stability_shares(labels),
    }


def compare(ours: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    """Largest class-share gap per attribute (percentage points) and joint-class ratio."""
    gaps = {}
    for k in ATTRIBUTES:
        a, b = ours["class_shares"][k], ref["class_shares"][k]
        n = max(len(a), len(b))
        a, b = np.pad(a, (0, n - len(a))), np.pad(b, (0, n - len(b)))
        worst = int(np.argmax(np.abs(a - b)))
        gaps[k] = {"max_pp": float(100 * abs(a[worst] - b[worst])), "class": worst}
    ratio = ours["joint_classes"]["train"] / max(ref["joint_classes"]["train"], 1)
    return {"class_share_gap": gaps, "joint_train_ratio": ratio}


def labels_from_measurements(
    gain_db: Sequence[float],
    ugf_hz: Sequence[float],
    pm_deg: Sequence[float],
    valid: Sequence[bool],
    n_train: int,
) -> Labels:
    """Labels for raw measurements (no circuits), e.g. while fitting a recipe."""
    cols = label_columns(np.asarray(gain_db), np.asarray(ugf_hz), np.asarray(pm_deg), valid)
    return Labels(
        valid=np.asarray(valid, dtype=bool),
        **{k: cols[k] for k in ("gain", "bw", "pm", "fom", "gain_cls", "bw_cls", "pm_cls")},
        n_train=n_train,
    )


def format_summary(name: str, s: dict[str, Any], manifest: dict[str, Any] | None = None) -> str:
    """Human-readable ``dataset info``: counts, quantiles, class shares, joint classes."""
    from ..report import table

    lines = [
        f"{name}: {s['rows']:,} circuits ({s['train']:,} train / {s['test']:,} test), "
        f"{s['valid']:,} valid ({100 * s['valid_share']:.1f} %)"
    ]
    if manifest:
        recipe = manifest.get("recipe") or {}
        bits = [
            f"source {manifest.get('source', '?')}",
            f"simulator {manifest.get('simulator', '?')}",
        ]
        if recipe:
            bits.insert(1, f"recipe {recipe.get('name')} seed {recipe.get('seed')}")
        if "counts" in manifest and "topologies" in manifest["counts"]:
            bits.append(f"{manifest['counts']['topologies']:,} topologies")
        lines.append(", ".join(bits))
        if manifest.get("sha256"):
            lines.append(f"sha256 {manifest['sha256']}")
    j = s["joint_classes"]
    lines.append(
        f"joint classes after cleaning: {j['train']} train, {j['test']} test "
        f"({s['cleaned']['train']:,} / {s['cleaned']['test']:,} rows kept)"
    )
    units = {
        "gain_db": ("gain", "dB", ".1f"),
        "ugf_ghz": ("UGF", "GHz", ".3g"),
        "pm_deg": ("PM", "°", ".1f"),
        "fom": ("FoM", "", ".2f"),
    }
    rows = [
        [label + (f" ({unit})" if unit else "")]
        + [format(v, fmt) for v in s["quantiles"][k].values()]
        for k, (label, unit, fmt) in units.items()
        if k in s["quantiles"]
    ]
    if rows:
        lines += ["", table(["quantile"] + [f"{q:.0%}" for q in QUANTILES], rows)]
    lines.append("")
    for k in ATTRIBUTES:
        shares = s["class_shares"][k]
        cells = " ".join(f"{c}:{100 * x:.1f}" for c, x in enumerate(shares) if x > 0)
        lines.append(f"{k} class shares (%): {cells}")
    lines += ["", _stability_text(s.get("stability"))]
    return "\n".join(lines)


STABILITY_ROWS = {
    "stable": "stable open loop",
    "cl_stable": "stable at unity gain",
    "both": "both",
    "working": "working (both, gain > 0 dB)",
}


def _stability_text(shares: dict[str, Any] | None) -> str:
    """The stability table of ``format_summary`` (a note when not measured)."""
    from ..report import table

    if shares is None:
        return "stability: not measured (no stable/cl_stable verdicts in this source)"
    rows = [
        [text, f"{shares[k]['rows']:,}", f"{100 * shares[k]['share']:.1f}"]
        for k, text in STABILITY_ROWS.items()
    ]
    return table(["stability", "circuits", "share (%)"], rows)


def failures_as_placeholders(labels: Labels) -> Labels:
    """The rows as OCB-101 labelled them: failed measurements kept as valid zero rows.

    perform101.csv stores its unmeasurable circuits as raw zeros marked valid (class
    (1, 0, 2)); perform301.csv and our benchmarks mark them invalid (class (0, 0, 0)). This
    view moves our invalid rows to the 101 convention so the two compare like for like.
    """
    from ..spec import FOM_OFFSET

    bad = ~labels.valid
    cols = {
        "gain": np.where(bad, GAIN_OFFSET, labels.gain),
        "bw": np.where(bad, BW_OFFSET, labels.bw),
        "pm": np.where(bad, PM_OFFSET, labels.pm),
        "fom": np.where(bad, FOM_OFFSET, labels.fom),
    }
    classes = {f"{k}_cls": np.floor(cols[k]).astype(np.int16) for k in ATTRIBUTES}
    classes["gain_cls"] = np.maximum(classes["gain_cls"], 0)
    keep = ~bad
    classes = {k: np.where(keep, getattr(labels, k), v) for k, v in classes.items()}
    return Labels(valid=np.ones_like(labels.valid), **cols, **classes, n_train=labels.n_train)
