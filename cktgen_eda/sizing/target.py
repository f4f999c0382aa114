"""Sizing targets: a spec box, its margins, and how far a measurement is from it.

A ``Target`` is a spec box plus whether the result must be a working amplifier. While
sizing, the box is shrunk by ``MARGIN`` (rounding and the engines' 1e-7 disagreement must
not tip a result out) and every pole must sit at Re p ≤ −``DAMPING``·|p|. Violations are
counted in ``SCALE`` units; the ``margin`` objective counts one-sided bounds up to ``REACH``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..spec import Interval, Spec, class_region

OBJECTIVES = ("power", "margin", "fom")
MARGIN = {"gain_db": 0.5, "ugf_hz": 0.01, "pm_deg": 1.0}  # dB, decades, degrees inside the box
SCALE = {"gain_db": 10.0, "ugf_hz": 0.2, "pm_deg": 10.0}  # one unit of violation
REACH = {"gain_db": 10.0, "ugf_hz": 0.3, "pm_deg": 15.0}  # margin objective, one-sided bounds
DAMPING = 0.01  # poles must sit at Re p ≤ −0.01·|p| (Q ≤ 50) while sizing


@dataclass(frozen=True)
class Target:
    """What sizing aims at: a spec box and whether the result must be a working amplifier.

    ``spec.require_stable`` judges ``pm`` on the loop margin and implies ``stable``; a class
    target (``for_class``) keeps the benchmark PM and may still ask for stability.
    """

    spec: Spec
    stable: bool = True

    @classmethod
    def for_spec(cls, spec: Spec) -> Target:
        return cls(spec, spec.require_stable)

    @classmethod
    def for_class(cls, spec_class: tuple[int, int, int], stable: bool = True) -> Target:
        region = class_region(tuple(spec_class))
        return cls(Spec(region["gain_db"], region["ugf_hz"], region["pm_deg"], False), stable)

    @property
    def loop_pm(self) -> bool:
        return self.spec.require_stable

    def met(self, m) -> bool:
        """True when an exact measurement meets the target."""
        if not m.valid or m.check(self.spec):
            return False
        return m.works or not self.stable

    def shortfall(self, m) -> float:
        """How far a measurement is from the target (0 when met), in violation units."""
        if not m.valid:
            return math.inf
        pm = m.pm_loop_deg if self.loop_pm else m.pm_deg
        out = 0.0
        for q, x in (("gain_db", m.gain_db), ("ugf_hz", math.log10(m.ugf_hz)), ("pm_deg", pm)):
            lo, hi = bounds(getattr(self.spec, q), q, margin=False)
            if x is None:
                return math.inf
            out += (max(lo - x, 0.0) + max(x - hi, 0.0)) / SCALE[q]
        if self.stable:
            out += (not m.stable) + (not m.cl_stable) + max(-(m.gain_db or 0.0), 0.0) / 10.0
        return out


def bounds(iv: Interval, q: str, margin: bool = True) -> tuple[float, float]:
    """``iv`` as (lo, hi) in sizing units (log10 Hz for the UGF), shrunk by the margin."""
    lo = -math.inf if iv.lo is None else iv.lo
    hi = math.inf if iv.hi is None else iv.hi
    if q == "ugf_hz":
        lo = math.log10(lo) if lo > 0 else -math.inf
        hi = math.log10(hi) if hi > 0 else -math.inf
    if margin and math.isfinite(lo) and math.isfinite(hi):
        m = min(MARGIN[q], (hi - lo) / 4)
        return lo + m, hi - m
    m = MARGIN[q] if margin else 0.0
    return lo + m, hi - m


def margin_cost(target: Target, m) -> float:
    """The ``margin`` objective of a measurement: Σ squared distance from the box centre in
    half-widths (one-sided bounds: the shortfall from ``REACH`` past the bound)."""
    pm = m.pm_loop_deg if target.loop_pm else m.pm_deg
    out = 0.0
    for q, v in (("gain_db", m.gain_db), ("ugf_hz", math.log10(m.ugf_hz)), ("pm_deg", pm)):
        lo, hi = bounds(getattr(target.spec, q), q, margin=False)
        out += centre_cost(v, lo, hi, q)
    return out


def centre_cost(v, lo, hi, q):
    if math.isfinite(lo) and math.isfinite(hi):
        return ((v - (lo + hi) / 2) / ((hi - lo) / 2 + 1e-12)) ** 2
    if math.isfinite(lo):
        return (1 - min((v - lo) / REACH[q], 1.0)) ** 2
    if math.isfinite(hi):
        return (1 - min((hi - v) / REACH[q], 1.0)) ** 2
    return 0.0
