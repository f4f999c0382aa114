"""Exact measurements of sizing candidates (the fast engine) and how they rank."""

from __future__ import annotations

import math

import numpy as np

from .target import Target, margin_cost


def start_values(pp) -> np.ndarray:
    """The circuit's own values (clipped into range by ``parametric``)."""
    return np.array([v.value for v in pp.variables])


def invalid(why: str, label: str | None):
    from ..netlist.fastac import NAME
    from ..netlist.measure import Measurement

    return Measurement.invalid(why, NAME, file=label)


def regular_c(pp) -> bool:
    """C invertible at the starting values (what the eigenvalue gradient needs)."""
    p = pp.pencil(np.array([v.value for v in pp.variables]))
    return bool(np.linalg.cond(p.c) < 1e14)


def starts_of(pp, restarts: int, rng: np.random.Generator) -> np.ndarray:
    """log10 starting points: the given values, jitters of them and uniform draws.

    Shapes:
        returns ``[restarts, J]``.
    """
    lo = np.log10([v.lo for v in pp.variables])
    hi = np.log10([v.hi for v in pp.variables])
    x0 = np.log10([v.value for v in pp.variables])
    out = [x0]
    for r in range(1, restarts):
        if r % 2:
            out.append(x0 + rng.normal(0.0, 0.3, x0.size))
        else:
            out.append(rng.uniform(lo, hi))
    return np.clip(np.array(out), lo, hi)


def rounded_values(pp, theta: np.ndarray) -> np.ndarray:
    """log10 values → magnitudes in range, with the 4 significant digits written out."""
    from ..netlist.parametric import rounded

    lo = np.array([v.lo for v in pp.variables])
    hi = np.array([v.hi for v in pp.variables])
    return np.array([rounded(float(x)) for x in np.clip(10.0**theta, lo, hi)])


def total_gm(pp, x: np.ndarray) -> float:
    """Σ|gm| (S): the ``power`` objective."""
    return float(sum(a for v, a in zip(pp.variables, x) if v.kind == "gm"))


def measure(pencils: list, target: Target | list[Target]) -> list:
    """Exact measurements (the fast engine's batch path) of pencils, checked against the
    target's spec (one target for all, or one per pencil)."""
    from ..netlist.fastac import verify
    from ..netlist.ngspice import SimJob

    targets = target if isinstance(target, list) else [target] * len(pencils)
    results = verify([SimJob("", pencil=p) for p in pencils], workers=1)
    return [r.measurement.with_spec(t.spec) for r, t in zip(results, targets)]


def objective_value(objective: str, target: Target, pp, x: np.ndarray, m) -> float:
    """The objective of an exact measurement (lower is better)."""
    if objective == "power":
        return math.log10(max(total_gm(pp, x), 1e-30))
    if objective == "fom":
        return -m.fom if m.fom is not None else math.inf
    return margin_cost(target, m)


def rank_key(target: Target, objective: str, pp, x, m) -> tuple[float, float]:
    """Ranking of candidate points: met first, then objective; else by shortfall."""
    if target.met(m):
        return (0.0, objective_value(objective, target, pp, x, m))
    return (1.0 + target.shortfall(m), 0.0)
