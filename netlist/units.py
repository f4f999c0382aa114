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

# single-letter scale factors; "meg" and "mil" are matched before these
_SPICE_SUFFIX = {"t": 12, "g": 9, "k": 3, "m": -3, "u": -6, "n": -9, "p": -12, "f": -15, "a": -18}
_SPECTRE_SUFFIX = {
    "T": 12,
    "G": 9,
    "M": 6,
    "K": 3,
    "k": 3,
    "m": -3,
    "u": -6,
    "n": -9,
    "p": -12,
    "f": -15,
    "a": -18,
}
_NUM = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)([A-Za-z]*)$")
# engineering exponent → suffix written by us (ngspice dialect)
_WRITE_SUFFIX = {-15: "f", -12: "p", -9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "Meg", 9: "G"}


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
    if value == 0:
        return "0"
    d = Decimal(repr(float(value)))
    exp3 = (d.adjusted() // 3) * 3
    if exp3 not in _WRITE_SUFFIX:
        return repr(float(value))
    mantissa = format(d.scaleb(-exp3).normalize(), "f")
    return mantissa + _WRITE_SUFFIX[exp3]
