"""Two-sided spec boxes around real test circuits, the harder targets of docs/training.md §3."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..spec import Interval, Spec


def spec_boxes(
    bench, rows: Sequence[int], n: int, seed: int = 0, working: bool = False
) -> list[Spec]:
    """``n`` boxes around randomly drawn rows: gain ± 20 dB, UGF ×/÷ 2, PM ± 30°.

    By default around any valid row, in the benchmark's raw convention (``stable=any``, PM
    = the benchmark PM), as the earlier measurements were made. With ``working`` around
    rows that are working amplifiers (stable both ways, gain above 0 dB), as product specs:
    PM ± 30° around the row's loop phase margin, and a pass needs a working amplifier.
    """
    rng = random.Random(seed)
    ok = bench["valid"]
    if working:
        ok = ok & bench["stable"] & bench["cl_stable"] & (bench["gain_db"] > 0)
    pool = [int(r) for r in rows if ok[r]]
    pm_column = "pm_loop_deg" if working else "pm_deg"
    out = []
    for _ in range(n):
        r = rng.choice(pool)
        g, u, p = (float(bench[c][r]) for c in ("gain_db", "ugf_hz", pm_column))
        box = (Interval(g - 20, g + 20), Interval(u / 2, u * 2), Interval(p - 30, p + 30))
        out.append(Spec(*box, require_stable=working))
    return out
