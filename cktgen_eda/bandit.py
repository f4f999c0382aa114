"""The multi-armed bandit of ``design``: UCB1 or Gaussian Thompson sampling over arms.

Each arm (a joint class that can meet the spec) starts from a prior mean counted as one
pseudo-observation, scaled by the best FoM the arm allows (``potential_fom``); ``design``
feeds it one reward per pull (docs/design.md).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from .errors import CktGenError
from .spec import Spec, class_region, raw_fom

STRATEGIES = ("ucb", "thompson")


class Bandit:
    """UCB1 or Gaussian Thompson sampling over arms with prior means (one pseudo-pull each)."""

    def __init__(
        self,
        priors: Sequence[float],
        strategy: str = "ucb",
        c: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise CktGenError(f"strategy must be one of {STRATEGIES}, found {strategy!r}")
        self.strategy, self.c, self.rng = strategy, c, rng or random.Random(0)
        self.n = [1.0] * len(priors)  # the prior counts as one observation
        self.total = [float(p) for p in priors]
        self.sq = [float(p) ** 2 for p in priors]
        self.pulls = [0] * len(priors)

    def mean(self, i: int) -> float:
        return self.total[i] / self.n[i]

    def select(self) -> int:
        """The arm to pull next."""
        t = sum(self.n)
        if self.strategy == "ucb":
            scores = [
                self.mean(i) + self.c * math.sqrt(math.log(t) / self.n[i])
                for i in range(len(self.n))
            ]
        else:
            scores = []
            for i in range(len(self.n)):
                var = max(self.sq[i] / self.n[i] - self.mean(i) ** 2, 0.0) + 0.05
                scores.append(self.rng.gauss(self.mean(i), math.sqrt(var / self.n[i])))
        return max(range(len(scores)), key=lambda i: (scores[i], -i))

    def update(self, i: int, reward: float) -> None:
        self.n[i] += 1
        self.total[i] += reward
        self.sq[i] += reward * reward
        self.pulls[i] += 1


def potential_fom(spec: Spec, cls: tuple[int, int, int]) -> float:
    """The highest raw FoM a circuit of class ``cls`` meeting ``spec`` could have."""
    r = class_region(cls)
    g_lo = max(r["gain_db"].lo, spec.gain_db.lo if spec.gain_db.lo is not None else -math.inf)
    g_hi = min(r["gain_db"].hi, spec.gain_db.hi if spec.gain_db.hi is not None else math.inf)
    gain = max(abs(g_lo), abs(g_hi))  # the arm intersects the spec, so g_lo <= g_hi
    ugf = min(r["ugf_hz"].hi, spec.ugf_hz.hi if spec.ugf_hz.hi is not None else math.inf)
    pm = max(r["pm_deg"].lo, spec.pm_deg.lo if spec.pm_deg.lo is not None else -math.inf)
    return raw_fom(gain, ugf, pm)
