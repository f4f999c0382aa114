"""The derivative-free fallback: a (1+λ) evolution strategy on exact measurements."""

from __future__ import annotations

import numpy as np

from .exact import measure, rank_key, rounded_values
from .target import Target


def evolve(pp, x: np.ndarray, target: Target, objective: str, rng, steps: int = 30, pop: int = 12):
    """Derivative-free fallback: a (1+λ) evolution strategy in log space on exact measurements."""
    lo = np.log10([v.lo for v in pp.variables])
    hi = np.log10([v.hi for v in pp.variables])
    theta = np.log10(x)
    best_m = measure([pp.pencil(x)], target)[0]
    best = rank_key(target, objective, pp, x, best_m)
    sigma = 0.3
    for _ in range(steps):
        trial = np.clip(theta + rng.normal(0.0, sigma, (pop, theta.size)), lo, hi)
        pts = [rounded_values(pp, t) for t in trial]
        ms = measure([pp.pencil(p) for p in pts], target)
        keys = [rank_key(target, objective, pp, p, m) for p, m in zip(pts, ms)]
        k = min(range(pop), key=lambda i: keys[i])
        if keys[k] < best:
            best, theta, x, best_m = keys[k], np.log10(pts[k]), pts[k], ms[k]
            sigma = min(sigma * 1.5, 1.0)
        else:
            sigma *= 0.7
        if sigma < 1e-3:
            break
    return x, best_m
