"""Two-sided spec boxes around real test circuits, the harder targets of docs/training.md §3."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..spec import Interval, Spec


def spec_boxes(bench, rows: Sequence[int], n: int, seed: int = 0) -> list[Spec]:
    """``n`` boxes around randomly drawn valid rows: gain ± 20 dB, UGF ×/÷ 2, PM ± 30°."""
    rng = random.Random(seed)
    valid = [int(r) for r in rows if bench["valid"][r]]
    out = []
    for _ in range(n):
        r = rng.choice(valid)
        g, u, p = (float(bench[c][r]) for c in ("gain_db", "ugf_hz", "pm_deg"))
        out.append(Spec(Interval(g - 20, g + 20), Interval(u / 2, u * 2), Interval(p - 30, p + 30)))
    return out
