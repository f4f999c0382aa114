"""Specifications: the text grammar of docs/spec.md, the OCB class scheme and the FoM.

**spec** → model → circuit → netlist → ngspice → report. A ``Spec`` is a box of intervals on
DC gain (dB), unity-gain frequency (Hz) and phase margin (degrees). The benchmark's classes
and normalised columns use the fixed offsets of docs/benchmark.md §4.4–4.5, so a class means the
same physical region in every dataset.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import SpecError
from .netlist.units import SI_EXPONENTS, SI_PREFIXES

# Fixed normalisation offsets of the OCB CSVs (docs/benchmark.md §4.4): each is "minus the pooled
# raw minimum, plus 1e-5". Classes are the floors of the normalised values (§4.5).
GAIN_OFFSET = 1.19531
PM_OFFSET = 2.00001
BW_OFFSET = 0.00001
FOM_OFFSET = 3.20001

QUANTITIES = ("gain_db", "ugf_hz", "pm_deg")
_ALIASES = {"gain": "gain_db", "ugf": "ugf_hz", "bw": "ugf_hz", "pm": "pm_deg"}
_UNITS = {"gain_db": "dB", "ugf_hz": "Hz", "pm_deg": "deg"}
# Hz prefixes: the SI ones from 1 up (M is mega), K as k, and SPICE's meg in any case.
_PREFIX = {p: float(f"1e{e}") for p, e in SI_EXPONENTS.items() if e >= 0}
_PREFIX.update(K=1e3, meg=1e6, Meg=1e6, MEG=1e6)
# What a spec may ask for at all: beyond these a number is a typo or an attack, not a target
# (1e300 dB used to wrap into a nonsense "nearest feasible" suggestion).
LIMITS = {"gain_db": (-500.0, 500.0), "ugf_hz": (0.0, 1e15), "pm_deg": (-360.0, 360.0)}
_STABLE_WORDS = {"required": True, "yes": True, "true": True, "any": False, "no": False}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# ASCII only: Python's \d and float() would also take full-width and other script digits
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_]+)\s*(>=|<=|=|>|<)\s*(.+?)\s*$", re.ASCII)
_VALUE = re.compile(rf"^({_NUMBER})\s*([A-Za-z°]*)$", re.ASCII)


def raw_fom(gain_db: float, ugf_hz: float, pm_deg: float) -> float:
    """The benchmark's raw figure of merit (docs/benchmark.md §4.4)."""
    return 1.2 * abs(gain_db) / 100 + 1.6 * pm_deg / (-90) + 10 * ugf_hz / 1e9


def normalise(gain_db: float, ugf_hz: float, pm_deg: float) -> dict[str, float]:
    """CSV-style normalised columns ``gain``, ``bw``, ``pm``, ``fom`` (fixed offsets)."""
    return {
        "gain": gain_db / 100 + GAIN_OFFSET,
        "bw": ugf_hz / 1e9 + BW_OFFSET,
        "pm": -pm_deg / 90 + PM_OFFSET,
        "fom": raw_fom(gain_db, ugf_hz, pm_deg) + FOM_OFFSET,
    }


def spec_class(gain_db: float, ugf_hz: float, pm_deg: float) -> tuple[int, int, int]:
    """Benchmark class ``(gain, bw, pm)``: floors of normalised values (docs/benchmark.md §4.5)."""
    n = normalise(gain_db, ugf_hz, pm_deg)
    return math.floor(n["gain"]), math.floor(n["bw"]), math.floor(n["pm"])


@dataclass(frozen=True)
class Interval:
    """A range ``lo … hi`` of one quantity; ``None`` means unbounded on that side."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def contains(self, x: float) -> bool:
        if self.lo is not None and (x < self.lo or (self.lo_open and x == self.lo)):
            return False
        if self.hi is not None and (x > self.hi or (self.hi_open and x == self.hi)):
            return False
        return True

    def intersects(self, other: Interval) -> bool:
        """True when the two intervals share at least one point."""
        lo, lo_open = _tighter(self.lo, self.lo_open, other.lo, other.lo_open, max)
        hi, hi_open = _tighter(self.hi, self.hi_open, other.hi, other.hi_open, min)
        if lo is None or hi is None:
            return True
        return lo < hi or (lo == hi and not lo_open and not hi_open)

    def intersect(self, other: Interval) -> Interval:
        lo, lo_open = _tighter(self.lo, self.lo_open, other.lo, other.lo_open, max)
        hi, hi_open = _tighter(self.hi, self.hi_open, other.hi, other.hi_open, min)
        return Interval(lo, hi, lo_open, hi_open)


def _tighter(a, a_open, b, b_open, pick):
    """The tighter of two bounds (``pick`` = max for lower bounds, min for upper)."""
    if a is None:
        return b, b_open
    if b is None:
        return a, a_open
    if a == b:
        return a, a_open or b_open
    return (a, a_open) if pick(a, b) == a else (b, b_open)


@dataclass(frozen=True)
class Spec:
    """Target performance: one interval per quantity (unbounded when not constrained).

    ``require_stable`` (the default) makes a pass mean a working amplifier: stable open
    loop and in unity-gain feedback, gain above 0 dB, ``pm`` judged on the loop margin.
    ``stable=any`` in the text turns it off: the benchmark's raw convention, where ``pm``
    is the benchmark PM and right-half-plane poles go unseen (docs/simulation.md).
    """

    gain_db: Interval = Interval()
    ugf_hz: Interval = Interval()
    pm_deg: Interval = Interval()
    require_stable: bool = True

    def meets(self, gain_db: float, ugf_hz: float, pm_deg: float) -> bool:
        """True when every measured quantity lies in its interval."""
        return all(
            getattr(self, q).contains(v) for q, v in zip(QUANTITIES, (gain_db, ugf_hz, pm_deg))
        )

    def intersects_class(self, cls: tuple[int, int, int]) -> bool:
        """True when the class's physical region (``class_region``) overlaps this spec
        in any of its ``benchmark_boxes``."""
        region = class_region(cls)
        return any(
            all(getattr(box, q).intersects(region[q]) for q in QUANTITIES)
            for box in self.benchmark_boxes()
        )

    def benchmark_boxes(self) -> list[Spec]:
        """Where circuits that pass this spec lie in the benchmark's own coordinates.

        The benchmark PM is referenced to +180° whatever the polarity, while a product spec
        judges ``pm`` on the loop margin. For a non-inverting amplifier the two agree; for
        an inverting one the benchmark PM is the loop margin − 180° (wrapped). A product
        spec therefore maps to two boxes (one per polarity), a ``stable=any`` spec to itself.
        Used to pick and weigh benchmark classes (generation, design).
        """
        raw = Spec(self.gain_db, self.ugf_hz, self.pm_deg, require_stable=False)
        if not self.require_stable:
            return [raw]
        return [raw] + [
            Spec(self.gain_db, self.ugf_hz, iv, require_stable=False)
            for iv in _shifted_pm(self.pm_deg)
        ]

    def to_text(self) -> str:
        """Canonical text form that ``parse_spec`` reads back."""
        parts = []
        for q, name in (("gain_db", "gain"), ("ugf_hz", "ugf"), ("pm_deg", "pm")):
            iv: Interval = getattr(self, q)
            unit = _UNITS[q]
            if iv.lo is not None and iv.lo == iv.hi:
                parts.append(f"{name}={_fmt(iv.lo, q)}{unit}")
                continue
            if iv.lo is not None:
                parts.append(f"{name}{'>' if iv.lo_open else '>='}{_fmt(iv.lo, q)}{unit}")
            if iv.hi is not None:
                parts.append(f"{name}{'<' if iv.hi_open else '<='}{_fmt(iv.hi, q)}{unit}")
        if not self.require_stable:
            parts.append("stable=any")
        return ",".join(parts)

    def __str__(self) -> str:
        return self.to_text() or "(no constraint)"


def _shifted_pm(iv: Interval) -> list[Interval]:
    """The loop-margin interval ``iv`` as benchmark PM of an inverting amplifier: shifted by
    −180° and wrapped into (−180°, 180°], as one or two intervals."""
    lo_open = iv.lo_open if iv.lo is not None and iv.lo > -180.0 else True  # PM > −180°
    lo = -180.0 if iv.lo is None else max(iv.lo, -180.0)
    hi = 180.0 if iv.hi is None else min(iv.hi, 180.0)
    lo, hi = lo - 180.0, hi - 180.0  # within (−360, 0]
    if lo >= -180.0:
        return [Interval(lo, hi, lo_open, iv.hi_open)]
    if hi <= -180.0:
        return [Interval(lo + 360.0, hi + 360.0, lo_open, iv.hi_open)]
    return [Interval(lo + 360.0, 180.0, lo_open, False), Interval(-180.0, hi, True, iv.hi_open)]


def _fmt(x: float, q: str) -> str:
    """Short text of ``x`` (with an SI prefix for ugf) that parses back to exactly ``x``."""
    if q == "ugf_hz":
        for exp in (9, 6, 3):
            prefix, scale = SI_PREFIXES[exp], float(f"1e{exp}")
            if abs(x) >= scale:
                text = f"{x / scale:.12g}"
                if float(text) * scale == x:
                    return text + prefix
                break
    text = f"{x:.12g}"
    return text if float(text) == x else repr(x)


def class_region(cls: tuple[int, int, int]) -> dict[str, Interval]:
    """Physical region of a benchmark class ``(gain, bw, pm)`` (docs/benchmark.md §4.5)."""
    g, b, p = cls
    return {
        "gain_db": Interval((g - GAIN_OFFSET) * 100, (g + 1 - GAIN_OFFSET) * 100, False, True),
        "ugf_hz": Interval((b - BW_OFFSET) * 1e9, (b + 1 - BW_OFFSET) * 1e9, False, True),
        # pm_norm = -pm/90 + PM_OFFSET ∈ [p, p+1)  ⇔  pm ∈ (90(PM_OFFSET-p-1), 90(PM_OFFSET-p)]
        "pm_deg": Interval(90 * (PM_OFFSET - p - 1), 90 * (PM_OFFSET - p), True, False),
    }


def _parse_value(text: str, q: str, token: str) -> float:
    """The value of ``text`` in base units, checked against ``LIMITS``."""
    value = _scaled_value(text, q, token)
    lo, hi = LIMITS[q]
    if not lo <= value <= hi:
        unit = _UNITS[q]
        raise SpecError(
            f"{text.strip()!r} in {token!r} is out of range: {q.split('_')[0]} must lie in "
            f"{lo:g}..{hi:g} {unit}"
        )
    return value


def _scaled_value(text: str, q: str, token: str) -> float:
    m = _VALUE.match(text.strip())
    if not m:
        raise SpecError(f"bad number {text.strip()!r} in {token!r}: {_hint(text, token)}")
    number, unit = float(m.group(1)), m.group(2)
    if q == "gain_db":
        if unit not in ("", "dB", "db", "DB"):
            raise SpecError(f"unknown unit {unit!r} for gain in {token!r} (use dB)")
        return number
    if q == "pm_deg":
        if unit not in ("", "deg", "°", "degree", "degrees"):
            raise SpecError(f"unknown unit {unit!r} for pm in {token!r} (use deg)")
        return number
    prefix = unit[:-2] if unit.lower().endswith("hz") else unit
    if prefix not in _PREFIX:
        raise SpecError(f"unknown unit {unit!r} for ugf in {token!r} (use Hz, kHz, MHz, GHz)")
    return number * _PREFIX[prefix]


def _hint(text: str, token: str) -> str:
    """What a value that is not a number probably meant (the grammar of docs/spec.md)."""
    text = text.strip()
    if re.match(r"[<>=]", text):
        return "the operator is one of >=, <=, =, >, <, as in 'gain>=60dB'"
    if re.search(r";|[A-Za-z_]\s*[<>=]", text):  # a second constraint inside this one
        fixed = re.sub(r"\s*;\s*|\s+(?:and|&)\s+", ",", token.strip())
        fixed = re.sub(r"\s+(?=[A-Za-z_]+\s*[<>=])", ",", fixed).strip(",")
        return f"separate constraints with commas, as in {fixed!r}"
    if re.search(r"\d\s*(?:-|to)\s*[-+.\d]", text):
        return "write a range with '=' and two dots, as in 'pm=45..90deg'"
    return "expected a number and a unit, as in 'gain>=60dB', 'ugf>=1GHz' or 'pm=45..90deg'"


def parse_spec(text: str) -> Spec:
    """Parse ``"gain>=60dB, ugf>=50MHz, pm=45..90deg"`` into a ``Spec``.

    Raises:
        SpecError: naming the token that is not understood, or contradictory bounds.
    """
    if not isinstance(text, str) or not text.strip():
        raise SpecError("empty spec; expected e.g. 'gain>=60dB,ugf>=50MHz,pm>=45deg'")
    box = {q: Interval() for q in QUANTITIES}
    require_stable = True
    for token in text.split(","):
        token = token.strip()
        if not token:
            raise SpecError(f"empty constraint in spec {text!r}")
        m = _CONSTRAINT.match(token)
        if not m:
            raise SpecError(f"cannot read constraint {token!r} (expected e.g. 'gain>=60dB')")
        name, op, rhs = m.groups()
        if name.lower() == "stable":
            word = rhs.strip().lower()
            if op != "=" or word not in _STABLE_WORDS:
                raise SpecError(
                    f"cannot read {token!r}: use 'stable=required' (the default) or "
                    "'stable=any' (the benchmark's raw convention)"
                )
            require_stable = _STABLE_WORDS[word]
            continue
        q = _ALIASES.get(name.lower())
        if q is None:
            raise SpecError(
                f"unknown quantity {name!r} in {token!r} (known: gain, ugf, bw, pm, stable)"
            )
        if "..." in rhs:
            fixed = re.sub(r"\.{3,}", "..", token)
            raise SpecError(f"cannot read range {token!r}: a range has two dots, as in {fixed!r}")
        if ".." in rhs:
            if op != "=":
                raise SpecError(f"a range needs '=', as in 'pm=45..90deg', found {token!r}")
            lo_text, _, hi_text = rhs.partition("..")
            unit = _VALUE.match(hi_text.strip())
            # "45..90deg": the unit written once after the range applies to both ends
            if unit and unit.group(2) and not re.search(r"[A-Za-z°]$", lo_text.strip()):
                lo_text = lo_text + unit.group(2)
            lo, hi = _parse_value(lo_text, q, token), _parse_value(hi_text, q, token)
            if lo > hi:
                a, b = _fmt(lo, q) + _UNITS[q], _fmt(hi, q) + _UNITS[q]
                raise SpecError(f"empty range in {token!r}: {a} > {b} (write the lower end first)")
            new = Interval(lo, hi)
        else:
            v = _parse_value(rhs, q, token)
            new = {
                ">=": Interval(lo=v),
                ">": Interval(lo=v, lo_open=True),
                "<=": Interval(hi=v),
                "<": Interval(hi=v, hi_open=True),
                "=": Interval(v, v),
            }[op]
        merged = box[q].intersect(new)
        if not box[q].intersects(new):
            raise SpecError(f"contradictory constraints on {name}: {token!r} excludes the others")
        box[q] = merged
    return Spec(**box, require_stable=require_stable)
