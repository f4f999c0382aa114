"""Exact SPICE/Spectre number text ⇄ float.

SPICE suffixes are case-insensitive and ``M`` means milli (mega is ``Meg``); Spectre is
case-sensitive and ``M`` means mega. Both are converted through a decimal string, so
``382f`` parses to exactly the float ``3.82e-13`` and written values read back bit-exact.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from functools import lru_cache

from ..errors import NetlistError

# SI prefix → power of ten, atto to tera; case matters (M is mega, m milli), as in KiCad,
# Spectre and spec text. The one table of this package: each notation (SPICE, Spectre, KiCad,
# spec text, report) takes the part it shares and adds its own letters.
SI_EXPONENTS = {
    "a": -18,
    "f": -15,
    "p": -12,
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
}
# Power of ten → the prefix we write, femto to tera.
SI_PREFIXES = {e: p for p, e in SI_EXPONENTS.items() if e >= -15}

# SPICE: one case-insensitive letter, M is milli (mega is "meg", matched before these, as "mil")
_SPICE_SUFFIX = {p.lower(): e for p, e in SI_EXPONENTS.items() if p and p != "M"}
# Spectre: case-sensitive, K is kilo too
_SPECTRE_SUFFIX = {**{p: e for p, e in SI_EXPONENTS.items() if p}, "K": 3}
_NUM = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)([A-Za-z]*)$")
# engineering exponent → suffix written by us (ngspice dialect: no T, mega as Meg)
_WRITE_SUFFIX = {**{e: p for e, p in SI_PREFIXES.items() if e <= 9}, 6: "Meg"}


def _scaled(mantissa: str, exponent: int) -> float:
    return float(f"{mantissa}e{exponent}") if exponent else float(mantissa)


def parse_spice_number(text: str) -> float:
    """Parse a SPICE number such as ``4.7k``, ``1Meg``, ``50f``, ``1e-3`` (``1M`` = 1e-3).

    Raises:
        NetlistError: when the text is not a number.
    """
    m = _NUM.match(text)
    if not m:
        raise NetlistError(f"not a SPICE number: {text!r}")
    mantissa, letters = m.groups()
    low = letters.lower()
    exponent = 0
    if low.startswith("meg"):
        exponent = 6
    elif low.startswith("mil"):
        return float(mantissa) * 25.4e-6
    elif low:
        exponent = _SPICE_SUFFIX.get(low[0], 0)  # unknown letters are units ("ohm", "F")
    value = _scaled(mantissa, exponent)
    if not math.isfinite(value):
        raise NetlistError(f"number out of range: {text!r}")
    return value


def parse_spectre_number(text: str) -> float:
    """Parse a Spectre number (case-sensitive scale factors, ``M`` = mega, ``m`` = milli)."""
    m = _NUM.match(text)
    if not m:
        raise NetlistError(f"not a Spectre number: {text!r}")
    mantissa, letters = m.groups()
    if letters and letters[0] not in _SPECTRE_SUFFIX:
        raise NetlistError(f"unknown scale factor {letters!r} in {text!r}")
    value = _scaled(mantissa, _SPECTRE_SUFFIX[letters[0]] if letters else 0)
    if not math.isfinite(value):
        raise NetlistError(f"number out of range: {text!r}")
    return value


@lru_cache(maxsize=8192)  # loads (1Meg, 50f) and OCB grid values repeat across circuits
def format_spice_number(value: float) -> str:
    """Shortest exact SPICE text for a float, with an engineering suffix (``Meg`` for 1e6).

    ``parse_spice_number(format_spice_number(x)) == x`` for every finite float.
    """
    return format_engineering(value, _WRITE_SUFFIX)


def format_engineering(value: float, suffixes: dict[int, str]) -> str:
    """Shortest exact text for a float as mantissa + ``suffixes[exponent]``, the exponent a
    multiple of 3 (``repr`` outside the table), e.g. ``SI_PREFIXES``: ``382f``, ``1M``."""
    if value == 0:
        return "0"
    d = Decimal(repr(float(value)))
    exp3 = (d.adjusted() // 3) * 3
    if exp3 not in suffixes:
        return repr(float(value))
    return format(d.scaleb(-exp3).normalize(), "f") + suffixes[exp3]
