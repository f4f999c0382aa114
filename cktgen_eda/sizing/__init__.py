"""Sizing: device values that put a fixed topology inside a spec box, stable, at least cost.

circuit → **sizing** → circuit (same topology, new values) → netlist → ngspice. The variables
are log10 device values within their ranges (``netlist/parametric.py``). Everything the spec
reads is an exact, differentiable function of them:

- gain: 20·log10|H(j2π·1 Hz)| from one complex solve;
- UGF and PM: the measurement's own interpolation (``measure.py``) between the two sweep
  points that bracket each 0 dB crossing, from exact solves at those points (the brackets
  come from a pole–residue sweep of the whole grid, redone every few steps);
- stability: every pole (eigenvalues of −C⁻¹G) open loop and in the unity-gain loop must
  have Re p ≤ −``DAMPING``·|p|, a margin over the verdict's −1e-6·|p|.

Each is a squared hinge past the box shrunk by ``MARGIN`` and ``DAMPING``; the objective is
added with a small weight: ``power`` (log Σ|gm|, the default), ``margin`` (distance to the box
centre; one-sided bounds count up to ``_REACH``) or ``fom`` (−benchmark FoM). Adam (autograd
through the pencil, torch, float64) runs on several starts per circuit at once, all circuits
batched; every start's best point is then measured exactly (netlist/fastac.py) and the best
one that meets the target wins, else the closest. Pencils without an invertible C (plain
decks with capacitor-free nets) use a derivative-free (1+λ) evolution strategy on the exact
engine instead. Callers confirm what they report with ngspice.

Modules: ``target`` (the box and its margins), ``gradient`` (the torch path), ``exact``
(measuring and ranking candidates), ``search`` (the derivative-free fallback).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..circuit import Circuit
from ..errors import CktGenError
from ..spec import Spec
from .exact import (
    invalid,
    measure,
    rank_key,
    regular_c,
    rounded_values,
    start_values,
    starts_of,
    total_gm,
)
from .gradient import optimise
from .search import evolve
from .target import OBJECTIVES, Target, margin_cost

_CHUNK = 256  # items per gradient batch (memory: ~40 kB per start)


@dataclass
class SizingResult:
    """One sized circuit or deck.

    Attributes:
        before, after: exact (fast engine) measurements against the target's spec.
        met: the sized design meets the target (stable both ways when it asks).
        values_before, values_after: variable name → magnitude (Ω, F, S).
        circuit: the sized circuit (OCB input), or None.
        deck: the sized deck text (plain-deck input), or None.
        power_s: Σ|gm| after sizing (S), the ``power`` objective.
        method: ``"gradient"``, ``"search"`` (derivative-free) or ``"none"`` (error).
        error: why the item could not be sized (no testbench or linear model), else None.
    """

    before: Any
    after: Any
    met: bool
    values_before: dict[str, float]
    values_after: dict[str, float]
    circuit: Circuit | None = None
    deck: str | None = None
    power_s: float = 0.0
    method: str = "gradient"
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "met": self.met,
            "error": self.error,
            "method": self.method,
            "power_s": self.power_s,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "values_before": self.values_before,
            "values_after": self.values_after,
        }


@dataclass(frozen=True)
class Deck:
    """A plain deck to size.

    Attributes:
        text: the deck as the user wrote it (the sized deck rewrites its values in place).
        model_text: the text to model (``prepare_deck``'s, without control blocks).
        in_node, out_node: the nets H = V(out)/V(in) is measured between.
    """

    text: str
    model_text: str
    in_node: str = "in"
    out_node: str = "out"
    label: str | None = None


def load_sizable(path, out_node: str = "out") -> Circuit | Deck:
    """Read what ``size`` takes: circuit JSON, a ``to-spice`` deck or OCB netlist (``.scs``),
    a KiCad XML netlist (``.xml``) or a plain SPICE deck (measured at ``out_node``).

    Raises:
        CktGenError: when the file cannot be read or is none of these.
    """
    from pathlib import Path

    from ..circuit import load_circuit
    from ..errors import NetlistError
    from ..fileio import read_text
    from ..netlist.deck import DECK_SUFFIXES, prepare_deck
    from ..netlist.kicad import read_kicad_netlist
    from ..netlist.spice import TAG, parse_spice

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return load_circuit(path)
    if suffix == ".xml":
        return read_kicad_netlist(path, out_net=out_node)
    text = read_text(path, NetlistError)
    if suffix == ".scs" or TAG + " format" in text:
        return parse_spice(text, str(path), out_net=out_node)
    if suffix in DECK_SUFFIXES:
        deck = prepare_deck(text, out_node, str(path))
        return Deck(text, deck.text, deck.in_node, deck.out_node, str(path))
    raise NetlistError(
        f"{path}: unknown file type {suffix or '(none)'}; expected .json, .scs, .xml or a "
        f"SPICE deck ({', '.join(DECK_SUFFIXES)})"
    )


def size(
    items: Sequence[Circuit | Deck],
    target: Target | Spec | Sequence[Target | Spec],
    objective: str = "power",
    restarts: int = 4,
    steps: int = 80,
    seed: int = 0,
    search: bool = True,
) -> list[SizingResult]:
    """Size every item toward ``target`` (one for all, or one per item; all items batched).

    ``search`` runs the derivative-free fallback on items the gradient path leaves short of
    the target (slower; pencils without an invertible C always use it). An item that has
    no linear model or testbench gets a result whose ``error`` says why.

    Raises:
        CktGenError: for an unknown objective or a wrong number of targets.
    """
    from ..netlist import parametric

    if objective not in OBJECTIVES:
        raise CktGenError(f"unknown objective {objective!r}; choose from {', '.join(OBJECTIVES)}")
    targets = list(target) if isinstance(target, Sequence) else [target] * len(items)
    if len(targets) != len(items):
        raise CktGenError(f"{len(targets)} targets for {len(items)} items")
    targets = [Target.for_spec(t) if isinstance(t, Spec) else t for t in targets]
    pps: list[Any] = []
    for item in items:
        try:
            if isinstance(item, Circuit):
                pps.append(parametric.from_circuit(item))
            else:
                pps.append(parametric.from_deck(item.model_text, item.in_node, item.out_node))
        except CktGenError as exc:
            pps.append(str(exc))
    rng = np.random.default_rng(seed)
    ok = [i for i, pp in enumerate(pps) if not isinstance(pp, str)]
    grad = [i for i in ok if regular_c(pps[i])]
    points: dict[int, list[np.ndarray]] = {i: [] for i in ok}
    for at in range(0, len(grad), _CHUNK):
        part = grad[at : at + _CHUNK]
        starts = [starts_of(pps[i], restarts, rng) for i in part]
        found = optimise(
            [pps[i] for i in part], starts, [targets[i] for i in part], objective, steps
        )
        for i, cands in zip(part, found):
            points[i] = [rounded_values(pps[i], c) for c in cands]
    points_found = set(grad)  # items the gradient path ran on
    # one exact batch: every item's given values and the points the gradient path found
    flat = [(i, x) for i in ok for x in [start_values(pps[i])] + points[i]]
    ms = measure([pps[i].pencil(x) for i, x in flat], [targets[i] for i, _ in flat])
    by_item: dict[int, list] = {i: [] for i in ok}
    for (i, x), m in zip(flat, ms):
        by_item[i].append((x, m))
    results = []
    for i, (item, pp, target) in enumerate(zip(items, pps, targets)):
        label = item.meta.get("name") if isinstance(item, Circuit) and item.meta else None
        label = label if isinstance(label, str) else getattr(item, "label", None)
        if isinstance(pp, str):
            bad = invalid(pp, label)
            results.append(SizingResult(bad, bad, False, {}, {}, method="none", error=pp))
            continue
        x0, before = by_item[i][0]
        x, m = min(by_item[i], key=lambda xm: rank_key(target, objective, pp, *xm))
        method = "gradient" if i in points_found else "search"
        if not target.met(m) and (search or i not in points_found):
            x2, m2 = evolve(pp, x, target, objective, rng)
            if rank_key(target, objective, pp, x2, m2) < rank_key(target, objective, pp, x, m):
                x, m, method = x2, m2, "search"
        res = SizingResult(
            before.with_file(label),
            m.with_file(label),
            target.met(m),
            {v.name: float(a) for v, a in zip(pp.variables, x0)},
            {v.name: float(a) for v, a in zip(pp.variables, x)},
            power_s=total_gm(pp, x),
            method=method,
        )
        if isinstance(item, Circuit):
            res.circuit = parametric.sized_circuit(item, pp, x)
        else:
            res.deck = parametric.sized_deck(item.text, pp, x)
        results.append(res)
    return results


__all__ = ["OBJECTIVES", "Target", "SizingResult", "Deck", "load_sizable", "margin_cost", "size"]
