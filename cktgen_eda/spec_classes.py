"""Spec → joint classes: which of the model's training classes can serve a target spec.

spec → **classes** → model → circuits → netlist → simulator → report. A class is a
(gain, bw, pm) bin of the benchmark (docs/spec.md). A spec maps to every training class
whose physical region intersects its box; they rank by what the model's shipped training
labels say about each class (``class_yields``: the share of its circuits that pass the
spec) or, without them, by how much of the class lies inside the box (``containment``).
``generation`` and ``design`` build on these; torch and numpy load only when used.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from .spec import LIMITS, QUANTITIES, Interval, Spec, class_region


def _overlap(a: Interval, b: Interval) -> float:
    """Share of the finite interval ``b`` that lies inside ``a`` (0…1)."""
    lo = b.lo if a.lo is None else max(a.lo, b.lo)
    hi = b.hi if a.hi is None else min(a.hi, b.hi)
    return max(0.0, hi - lo) / (b.hi - b.lo)


def containment(spec: Spec, cls: tuple[int, int, int]) -> float:
    """How much of the class region lies inside the spec (product over quantities; the
    larger over the spec's ``benchmark_boxes``, one per amplifier polarity)."""
    region = class_region(cls)
    return max(
        math.prod(_overlap(getattr(box, q), region[q]) for q in QUANTITIES)
        for box in spec.benchmark_boxes()
    )


def feasible_classes(
    spec: Spec, keys: list[tuple[int, int, int]], yields: dict | None = None
) -> list[tuple[int, int, int]]:
    """Training classes whose region meets the spec: highest ``class_yields`` first when
    given, else most-contained first."""
    hits = [k for k in keys if spec.intersects_class(k)]
    if yields:
        return sorted(hits, key=lambda k: (-yields.get(k, 0.0), -containment(spec, k), k))
    return sorted(hits, key=lambda k: (-containment(spec, k), k))


def class_yields(spec: Spec, model: Any, prior_weight: float = 2.0) -> dict | None:
    """Per joint class, the share of the model's training circuits that pass ``spec``.

    A pass is judged as the product judges it (``Measurement.check``: stable both ways,
    gain above 0 dB, ``pm`` on the loop margin; or the raw convention for ``stable=any``),
    from the labels of the model's shipped training benchmark. Small classes are shrunk
    towards the overall share: (passes + w·base) / (n + w), w = ``prior_weight``. This is
    what the training data says about where working amplifiers lie; classes mostly made of
    oscillators rank last. None when the benchmark is not shipped or has no stability
    labels (then classes are ranked by containment alone).
    """
    import numpy as np

    found = _training_labels(model)
    if found is None:
        return None
    bench, rows = found
    columns = ("valid", "stable", "cl_stable", "gain_db", "ugf_hz", "pm_deg", "pm_loop_deg")
    a = {k: bench[k][rows] for k in (*columns, "gain_cls", "bw_cls", "pm_cls")}
    ok = a["valid"].copy()
    pm = a["pm_loop_deg"] if spec.require_stable else a["pm_deg"]
    if spec.require_stable:
        ok &= a["stable"] & a["cl_stable"] & (a["gain_db"] > 0)
    for iv, x in ((spec.gain_db, a["gain_db"]), (spec.ugf_hz, a["ugf_hz"]), (spec.pm_deg, pm)):
        ok &= _within(iv, x)
    base = float(ok.mean()) if ok.size else 0.0
    keys = [tuple(k) for k in np.stack([a["gain_cls"], a["bw_cls"], a["pm_cls"]], 1).tolist()]
    counts: dict[tuple, list[int]] = {}
    for key, hit, valid in zip(keys, ok.tolist(), a["valid"].tolist()):
        if valid:
            c = counts.setdefault(key, [0, 0])
            c[0] += hit
            c[1] += 1
    return {k: (h + prior_weight * base) / (n + prior_weight) for k, (h, n) in counts.items()}


def _training_labels(model: Any):
    """``(benchmark, training rows)`` of the model's shipped training benchmark, when its
    stability columns hold measured verdicts; None otherwise (not shipped, or labels from a
    file without them, where every row reads unstable)."""
    from .data.store import shipped_benchmarks, stability_measured

    name = ((getattr(model, "info", None) or {}).get("dataset") or {}).get("name")
    if name not in shipped_benchmarks():
        return None
    bench = _benchmark(name)
    if not stability_measured(bench.manifest):
        return None
    return bench, bench.split_rows("train")


def _within(iv: Interval, x):
    """``Interval.contains`` on an array (NaN is outside)."""
    import numpy as np

    ok = np.isfinite(x)
    if iv.lo is not None:
        ok &= (x > iv.lo) if iv.lo_open else (x >= iv.lo)
    if iv.hi is not None:
        ok &= (x < iv.hi) if iv.hi_open else (x <= iv.hi)
    return ok


@functools.lru_cache(maxsize=4)
def _benchmark(name: str):
    from .data.store import load_benchmark

    return load_benchmark(name)


def nearest_feasible(spec: Spec, keys: list[tuple[int, int, int]]) -> Spec:
    """The smallest relaxation of ``spec`` that some training class meets, in round numbers.

    Each violated bound moves to the far edge of a class region (every circuit of that class
    then meets the relaxed spec); the class is the one that needs the least relaxation,
    measured in class widths (100 dB, 1 GHz, 90°). A moved bound is then rounded to 3
    significant digits (``_round_bound``) so that the suggestion reads ``ugf>=30GHz``, not
    ``ugf>=29.99999GHz``, and still overlaps that class.
    """
    width = {"gain_db": 100.0, "ugf_hz": 1e9, "pm_deg": 90.0}

    def relax(cls):
        region, cost, out = class_region(cls), 0.0, {}
        for q in QUANTITIES:
            iv, r = getattr(spec, q), region[q]
            lo, hi = iv.lo, iv.hi
            if lo is not None and lo >= r.hi:
                cost += (lo - r.hi) / width[q]
                lo = r.lo
            if hi is not None and hi <= r.lo:
                cost += (r.lo - hi) / width[q]
                hi = r.hi
            out[q] = Interval(lo, hi, iv.lo_open, iv.hi_open)
        return cost, Spec(**out, require_stable=spec.require_stable), cls

    _, near, cls = min((relax(k) for k in keys), key=lambda t: t[0])
    return _round_bound(near, spec, cls)


# the finest step a rounded bound takes (3 significant digits of 0.0009° would be 0.0009°)
_STEP = {"gain_db": 0.1, "ugf_hz": 1.0, "pm_deg": 0.1}


def _round_bound(near: Spec, spec: Spec, cls: tuple[int, int, int]) -> Spec:
    """``near`` with each bound that differs from ``spec`` at 3 significant digits: the
    nearest such number when the spec still overlaps class ``cls`` with it, else the one
    that relaxes the bound (lower bounds down, upper bounds up), which always does. Bounds
    stay within ``spec.LIMITS``, so the text parses back."""
    for q in QUANTITIES:
        for side in ("lo", "hi"):
            x = getattr(getattr(near, q), side)
            if x is None or x == getattr(getattr(spec, q), side):
                continue
            floor, ceil = LIMITS[q]
            x = min(max(x, floor), ceil)
            outward = _round_sig(x, q, math.floor if side == "lo" else math.ceil)
            for value in (_round_sig(x, q, round), outward):
                candidate = _with_bound(near, q, side, min(max(value, floor), ceil))
                iv = getattr(candidate, q)
                if (iv.lo is None or iv.hi is None or iv.lo <= iv.hi) and (
                    candidate.intersects_class(cls) or value == outward
                ):
                    near = candidate
                    break
    return near


def _round_sig(x: float, q: str, how) -> float:
    """``x`` at 3 significant digits (never finer than ``_STEP[q]``), rounded by ``how``
    (``round``, ``math.floor`` or ``math.ceil``)."""
    if x == 0:
        return 0.0
    step = max(10.0 ** (math.floor(math.log10(abs(x))) - 2), _STEP[q])
    k = x / step
    k = round(k) if abs(k - round(k)) < 1e-9 else how(k)  # x already round: keep it
    return float(f"{k * step:.12g}")


def _with_bound(spec: Spec, q: str, side: str, value: float) -> Spec:
    iv = getattr(spec, q)
    new = Interval(value, iv.hi, iv.lo_open, iv.hi_open)
    if side == "hi":
        new = Interval(iv.lo, value, iv.lo_open, iv.hi_open)
    return Spec(
        **{**{k: getattr(spec, k) for k in QUANTITIES}, q: new}, require_stable=spec.require_stable
    )


def expected_containment(probs, spec: Spec) -> list[float]:
    """Per circuit: Π over quantities of Σ_class p(class)·(share of the class bin inside the
    spec), with p from the guidance heads — the model's estimate that it meets the spec
    (the larger over the spec's ``benchmark_boxes``)."""
    import torch

    best = torch.zeros(len(probs[0]))
    for box in spec.benchmark_boxes():
        score = torch.ones(len(probs[0]))
        for q, p in zip(QUANTITIES, probs):
            cls = [0, 0, 0]
            overlap = []
            for k in range(p.shape[1]):
                cls[QUANTITIES.index(q)] = k
                overlap.append(_overlap(getattr(box, q), class_region(tuple(cls))[q]))
            score *= p @ torch.tensor(overlap, dtype=p.dtype)
        best = torch.maximum(best, score)
    return best.tolist()


def expected_yield(probs, yields: dict) -> list[float]:
    """Per circuit: Σ_class p(class)·yield(class), p the product of the guidance heads'
    marginals and the yields those of ``class_yields`` — the model's estimate, with what
    its training data says about each class, that the circuit passes the spec (stability
    included, which expected containment in the box cannot see)."""
    import torch

    keys = [k for k in yields if all(k[j] < probs[j].shape[1] for j in range(3))]
    if not keys:
        return [0.0] * len(probs[0])
    g, b, p = (torch.tensor([k[j] for k in keys]) for j in range(3))
    y = torch.tensor([yields[k] for k in keys], dtype=probs[0].dtype)
    joint = probs[0][:, g] * probs[1][:, b] * probs[2][:, p]  # (N, classes)
    return (joint @ y).tolist()


def model_classes(model: Any) -> list[tuple[int, int, int]]:
    """The joint classes of the model's training set, as ``(gain, bw, pm)`` tuples."""
    from .data.dataset import split_key

    return [split_key(k) for k in model.scheme.train_keys]


def working_classes(model: Any) -> set[tuple[int, int, int]] | None:
    """Joint classes holding at least one working amplifier (stable both ways, gain above
    0 dB) among the model's shipped training labels; None when unknown."""
    import numpy as np

    found = _training_labels(model)
    if found is None:
        return None
    bench, rows = found
    ok = bench["valid"][rows] & bench["stable"][rows] & bench["cl_stable"][rows]
    ok &= bench["gain_db"][rows] > 0
    cls = np.stack([bench[k][rows] for k in ("gain_cls", "bw_cls", "pm_cls")], 1)[ok]
    return {tuple(k) for k in cls.tolist()}
