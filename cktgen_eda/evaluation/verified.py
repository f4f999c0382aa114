"""Verified accuracy: the classes a simulator measures for generated circuits vs the requested.

generated circuits → **simulator → measured joint classes** → accuracy. The one place the
project turns a batch of generated circuits into measured classes and stability verdicts:
``cond_gen`` (verified Spec-Acc and the stability shares) and training's periodic
validation (verified class accuracy) both count through here, so a circuit is judged the
same way in both. The simulator is any ``plugins.simulators()`` name, ngspice by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import metrics


def measure_classes(
    circuits: Sequence[Any],
    simulator: str = "ngspice",
    workers: int | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate the circuits that exist and read their joint classes and stability verdicts.

    A missing circuit (None: the decode is not buildable), a failed simulation and an
    invalid measurement get class ``-1`` (never a hit) and count as not stable.

    Args:
        circuits: ``Circuit`` objects or None, one per generated sample.
        simulator: a ``plugins.simulators()`` name.

    Returns:
        ``classes`` [N, 3] int (gain, bw, pm; -1 where unmeasured) and ``verdicts`` [N, 3]
        bool (stable open loop, stable at unity gain, working amplifier).

    Raises:
        CktGenError: an unknown ``simulator`` (the message lists the known ones).
    """
    from ..plugins import get_simulator

    sim = get_simulator(simulator)
    present = [c for c in circuits if c is not None]
    results = iter(sim.verify(present, workers=workers, progress=progress) if present else [])
    got = np.full((len(circuits), 3), -1)
    verdicts = np.zeros((len(circuits), 3), bool)  # stable, cl_stable, works
    for i, c in enumerate(circuits):
        if c is None:
            continue
        m = next(results).measurement
        if m is None:
            continue
        if m.valid:
            got[i] = m.spec_class
        verdicts[i] = (bool(m.stable), bool(m.cl_stable), m.works)
    return got, verdicts


def verified_accuracy(
    circuits: Sequence[Any],
    want: np.ndarray,
    simulator: str = "ngspice",
    workers: int | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """``metrics.spec_accuracy`` of the measured classes against the requested ones.

    Every share is over all ``circuits``: one that is missing or not measured is a miss.

    Shapes:
        want [N, 3]: the requested (gain, bw, pm) class of each circuit.
    Returns:
        ``joint`` (the verified Spec-Acc) and ``gain``, ``bw``, ``pm``, as
        ``metrics.spec_accuracy``.
    """
    got, _ = measure_classes(circuits, simulator, workers, progress)
    acc = metrics.spec_accuracy(got, np.asarray(want))
    return {k: acc[k] for k in ("joint", "gain", "bw", "pm")}
