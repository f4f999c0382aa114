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
decks with capacitor-free nets) use a derivative-free (1+1) evolution strategy on the exact
engine instead. Callers confirm what they report with ngspice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .circuit import Circuit
from .errors import CktGenError
from .spec import Interval, Spec, class_region

OBJECTIVES = ("power", "margin", "fom")
MARGIN = {"gain_db": 0.5, "ugf_hz": 0.01, "pm_deg": 1.0}  # dB, decades, degrees inside the box
_SCALE = {"gain_db": 10.0, "ugf_hz": 0.2, "pm_deg": 10.0}  # one unit of violation
_REACH = {"gain_db": 10.0, "ugf_hz": 0.3, "pm_deg": 15.0}  # margin objective, one-sided bounds
DAMPING = 0.01  # poles must sit at Re p ≤ −0.01·|p| (Q ≤ 50) while sizing
_PENALTY = 100.0
_OBJ_WEIGHT = {"power": 1.0, "margin": 0.3, "fom": 0.1}
_CROSSINGS = 3  # 0 dB crossings followed per start (the loop PM is the smallest)
_REGRID = 5  # steps between full sweeps
_CHUNK = 256  # items per gradient batch (memory: ~40 kB per start)
_PATIENCE, _SETTLED = 3, 1e-3  # stop when no best objective moved 1e-3 in 3 regrids
_LR = 0.1  # Adam step in decades, cosine-decayed to a tenth over the run


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
            lo, hi = _bounds(getattr(self.spec, q), q, margin=False)
            if x is None:
                return math.inf
            out += (max(lo - x, 0.0) + max(x - hi, 0.0)) / _SCALE[q]
        if self.stable:
            out += (not m.stable) + (not m.cl_stable) + max(-(m.gain_db or 0.0), 0.0) / 10.0
        return out


def _bounds(iv: Interval, q: str, margin: bool = True) -> tuple[float, float]:
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

    from .circuit import load_circuit
    from .errors import NetlistError
    from .netlist.deck import DECK_SUFFIXES, prepare_deck
    from .netlist.kicad import read_kicad_netlist
    from .netlist.spice import TAG, parse_spice

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return load_circuit(path)
    if suffix == ".xml":
        return read_kicad_netlist(path, out_net=out_node)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NetlistError(f"{path}: cannot read: {exc}") from None
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
    from .netlist import parametric

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
    grad = [i for i in ok if _regular(pps[i])]
    points: dict[int, list[np.ndarray]] = {i: [] for i in ok}
    for at in range(0, len(grad), _CHUNK):
        part = grad[at : at + _CHUNK]
        starts = [_starts(pps[i], restarts, rng) for i in part]
        found = _adam([pps[i] for i in part], starts, [targets[i] for i in part], objective, steps)
        for i, cands in zip(part, found):
            points[i] = [_round(pps[i], c) for c in cands]
    # one exact batch: every item's given values and the points the gradient path found
    flat = [(i, x) for i in ok for x in [_start_values(pps[i])] + points[i]]
    ms = _measure([pps[i].pencil(x) for i, x in flat], [targets[i] for i, _ in flat])
    by_item: dict[int, list] = {i: [] for i in ok}
    for (i, x), m in zip(flat, ms):
        by_item[i].append((x, m))
    results = []
    for i, (item, pp, target) in enumerate(zip(items, pps, targets)):
        label = item.meta.get("name") if isinstance(item, Circuit) and item.meta else None
        label = label if isinstance(label, str) else getattr(item, "label", None)
        if isinstance(pp, str):
            bad = _invalid(pp, label)
            results.append(SizingResult(bad, bad, False, {}, {}, method="none", error=pp))
            continue
        x0, before = by_item[i][0]
        x, m = min(by_item[i], key=lambda xm: _key(target, objective, pp, *xm))
        method = "gradient" if i in grad else "search"
        if not target.met(m) and (search or i not in grad):
            x2, m2 = _search(pp, x, target, objective, rng)
            if _key(target, objective, pp, x2, m2) < _key(target, objective, pp, x, m):
                x, m, method = x2, m2, "search"
        res = SizingResult(
            before.with_file(label),
            m.with_file(label),
            target.met(m),
            {v.name: float(a) for v, a in zip(pp.variables, x0)},
            {v.name: float(a) for v, a in zip(pp.variables, x)},
            power_s=_power(pp, x),
            method=method,
        )
        if isinstance(item, Circuit):
            res.circuit = parametric.sized_circuit(item, pp, x)
        else:
            res.deck = parametric.sized_deck(item.text, pp, x)
        results.append(res)
    return results


def _start_values(pp) -> np.ndarray:
    return np.array([v.value for v in pp.variables])


def _invalid(why: str, label: str | None):
    from .netlist.fastac import NAME
    from .netlist.measure import Measurement

    return Measurement.invalid(why, NAME, file=label)


def _regular(pp) -> bool:
    """C invertible at the starting values (what the eigenvalue gradient needs)."""
    p = pp.pencil(np.array([v.value for v in pp.variables]))
    return bool(np.linalg.cond(p.c) < 1e14)


def _starts(pp, restarts: int, rng: np.random.Generator) -> np.ndarray:
    """log10 starting points: the given values, jitters of them and uniform draws.

    Shapes:
        returns ``[restarts, J]``.
    """
    lo = np.log10([v.lo for v in pp.variables])
    hi = np.log10([v.hi for v in pp.variables])
    x0 = np.log10([v.value for v in pp.variables])
    out = [x0]
    for r in range(1, restarts):
        if r % 2:
            out.append(x0 + rng.normal(0.0, 0.3, x0.size))
        else:
            out.append(rng.uniform(lo, hi))
    return np.clip(np.array(out), lo, hi)


def _round(pp, theta: np.ndarray) -> np.ndarray:
    from .netlist.parametric import rounded

    lo = np.array([v.lo for v in pp.variables])
    hi = np.array([v.hi for v in pp.variables])
    return np.array([rounded(float(x)) for x in np.clip(10.0**theta, lo, hi)])


def _power(pp, x: np.ndarray) -> float:
    return float(sum(a for v, a in zip(pp.variables, x) if v.kind == "gm"))


def _measure(pencils: list, target: Target | list[Target]) -> list:
    """Exact measurements (fast engine) of pencils, checked against the target's spec
    (one target for all, or one per pencil)."""
    from .netlist.fastac import NAME, OCB_FREQ_HZ, sweep
    from .netlist.measure import loop_margin, measure_opamp
    from .netlist.stability import analyse_many

    targets = target if isinstance(target, list) else [target] * len(pencils)
    out = []
    for h, st, t in zip(sweep(pencils), analyse_many(pencils, settling=False), targets):
        m = measure_opamp(OCB_FREQ_HZ, h, NAME)
        m = m._with(pm_loop_deg=loop_margin(h, st.sign)).with_stability(st)
        out.append(m.with_spec(t.spec))
    return out


def _objective_value(objective: str, target: Target, pp, x: np.ndarray, m) -> float:
    """The objective of an exact measurement (lower is better)."""
    if objective == "power":
        return math.log10(max(_power(pp, x), 1e-30))
    if objective == "fom":
        return -m.fom if m.fom is not None else math.inf
    return margin_cost(target, m)


def margin_cost(target: Target, m) -> float:
    """The ``margin`` objective of a measurement: Σ squared distance from the box centre in
    half-widths (one-sided bounds: the shortfall from ``_REACH`` past the bound)."""
    pm = m.pm_loop_deg if target.loop_pm else m.pm_deg
    out = 0.0
    for q, v in (("gain_db", m.gain_db), ("ugf_hz", math.log10(m.ugf_hz)), ("pm_deg", pm)):
        lo, hi = _bounds(getattr(target.spec, q), q, margin=False)
        out += _centre_cost(v, lo, hi, q)
    return out


def _centre_cost(v, lo, hi, q):
    if math.isfinite(lo) and math.isfinite(hi):
        return ((v - (lo + hi) / 2) / ((hi - lo) / 2 + 1e-12)) ** 2
    if math.isfinite(lo):
        return (1 - min((v - lo) / _REACH[q], 1.0)) ** 2
    if math.isfinite(hi):
        return (1 - min((hi - v) / _REACH[q], 1.0)) ** 2
    return 0.0


def _key(target: Target, objective: str, pp, x, m) -> tuple[float, float]:
    """Ranking of candidate points: met first, then objective; else by shortfall."""
    if target.met(m):
        return (0.0, _objective_value(objective, target, pp, x, m))
    return (1.0 + target.shortfall(m), 0.0)


def _search(pp, x: np.ndarray, target: Target, objective: str, rng, steps: int = 30, pop: int = 12):
    """Derivative-free fallback: a (1+λ) evolution strategy in log space on exact measurements."""
    lo = np.log10([v.lo for v in pp.variables])
    hi = np.log10([v.hi for v in pp.variables])
    theta = np.log10(x)
    best_m = _measure([pp.pencil(x)], target)[0]
    best = _key(target, objective, pp, x, best_m)
    sigma = 0.3
    for _ in range(steps):
        trial = np.clip(theta + rng.normal(0.0, sigma, (pop, theta.size)), lo, hi)
        pts = [_round(pp, t) for t in trial]
        ms = _measure([pp.pencil(p) for p in pts], target)
        keys = [_key(target, objective, pp, p, m) for p, m in zip(pts, ms)]
        k = min(range(pop), key=lambda i: keys[i])
        if keys[k] < best:
            best, theta, x, best_m = keys[k], np.log10(pts[k]), pts[k], ms[k]
            sigma = min(sigma * 1.5, 1.0)
        else:
            sigma *= 0.7
        if sigma < 1e-3:
            break
    return x, best_m


# --------------------------------------------------------------------------- gradient path
def _adam(pps: list, starts: list[np.ndarray], targets: list[Target], objective: str, steps: int):
    """Adam on every start of every pencil at once; per pencil, the best points seen."""
    from .generation import torch_threads

    with torch_threads(1):  # batched small matrices: a second thread only adds overhead
        return _adam_run(pps, starts, targets, objective, steps)


def _adam_run(pps, starts, targets, objective: str, steps: int):
    import torch

    from .netlist.fastac import OCB_FREQ_HZ

    batch = _Batch(pps, starts, targets)
    theta = torch.tensor(np.concatenate(starts_padded(starts, batch.j)), requires_grad=True)
    lo, hi = batch.lo, batch.hi
    adam = _Adam(theta.shape)
    freq = torch.tensor(OCB_FREQ_HZ)
    best_obj = torch.full((batch.rows,), math.inf, dtype=torch.float64)
    best_viol = torch.full((batch.rows,), math.inf, dtype=torch.float64)
    best_theta = theta.detach().clone()
    brackets = None
    problem = torch.tensor([k for k in range(len(pps)) for _ in batch.rows_of(k)])
    history: list[torch.Tensor] = []
    for step in range(steps):
        if step % _REGRID == 0:
            with torch.no_grad():
                brackets = _brackets(*batch.matrices(theta), batch, OCB_FREQ_HZ)
            if _settled(best_obj, problem, len(pps), history):
                break
        g, c = batch.matrices(theta)
        viol, obj = _terms(g, c, theta, batch, brackets, freq, objective)
        loss = (_PENALTY * viol + _OBJ_WEIGHT[objective] * obj).sum()
        with torch.no_grad():
            feasible = viol <= 0.0
            better = torch.where(
                feasible, obj < best_obj, (best_obj == math.inf) & (viol < best_viol)
            )
            better &= torch.isfinite(viol)
            best_theta[better] = theta.detach()[better]
            best_obj = torch.where(better & feasible, obj.detach(), best_obj)
            best_viol = torch.where(better, viol.detach(), best_viol)
        theta.grad = None
        loss.backward()
        with torch.no_grad():
            theta.grad.nan_to_num_(0.0, 0.0, 0.0)
            theta.grad.clamp_(-1e3, 1e3)
        with torch.no_grad():
            lr = _LR * (0.55 + 0.45 * math.cos(math.pi * step / steps))  # cosine, to _LR/10
            theta -= adam.step(theta.grad, lr)
            theta.copy_(torch.maximum(torch.minimum(theta, hi), lo))
    final = theta.detach().numpy()
    bt = best_theta.numpy()
    out = []
    for k, pp in enumerate(pps):
        rows = batch.rows_of(k)
        j = len(pp.variables)
        out.append([bt[r, :j] for r in rows] + [final[r, :j] for r in rows])
    return out


def _settled(best_obj, problem, n: int, history: list) -> bool:
    """True once every circuit has a start inside the target and none of their best
    objectives improved by more than ``_SETTLED`` over the last ``_PATIENCE`` regrids."""
    import torch

    best = torch.full((n,), math.inf, dtype=torch.float64).scatter_reduce(
        0, problem, best_obj, "amin"
    )
    history.append(best)
    if len(history) <= _PATIENCE or not torch.isfinite(best).all():
        return False
    return bool((history[-1 - _PATIENCE] - best).max() < _SETTLED)


class _Adam:
    """Adam's update (Kingma & Ba) on one tensor; ``torch.optim`` would import
    ``torch._dynamo``, 2 s of start-up a command line cannot afford."""

    def __init__(self, shape, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        import torch

        self.m = torch.zeros(shape, dtype=torch.float64)
        self.v = torch.zeros(shape, dtype=torch.float64)
        self.b1, self.b2, self.eps, self.t = beta1, beta2, eps, 0

    def step(self, grad, lr: float):
        """The step to subtract for this gradient."""
        self.t += 1
        self.m.mul_(self.b1).add_(grad, alpha=1 - self.b1)
        self.v.mul_(self.b2).addcmul_(grad, grad, value=1 - self.b2)
        m_hat = self.m / (1 - self.b1**self.t)
        v_hat = self.v / (1 - self.b2**self.t)
        return lr * m_hat / (v_hat.sqrt() + self.eps)


def starts_padded(starts: list[np.ndarray], j: int) -> list[np.ndarray]:
    return [np.pad(s, ((0, 0), (0, j - s.shape[1]))) for s in starts]


class _Batch:
    """Every start of every pencil stacked and padded to one size (padding is inert)."""

    def __init__(self, pps: list, starts: list[np.ndarray], targets: list[Target]) -> None:
        import torch

        self.n = max(pp.size for pp in pps)
        self.j = max(len(pp.variables) for pp in pps)
        n, j = self.n, self.j
        g0, c0, sg, sc, inv, gm, lo, hi, out, self._rows = [], [], [], [], [], [], [], [], [], []
        box, flags = [], []
        for pp, st, tg in zip(pps, starts, targets):
            b_k = [_bounds(getattr(tg.spec, q), q) for q in ("gain_db", "ugf_hz", "pm_deg")]
            if tg.stable:
                b_k[0] = (max(b_k[0][0], MARGIN["gain_db"]), b_k[0][1])
            needs_ugf = any(
                getattr(tg.spec, q).lo is not None or getattr(tg.spec, q).hi is not None
                for q in ("ugf_hz", "pm_deg")
            )
            a = np.zeros((n, n + 1))
            b = np.zeros((n, n + 1))
            m = pp.size
            a[:m, :m], a[:m, n] = pp.g0[:, :m], pp.g0[:, m]
            b[:m, :m], b[:m, n] = pp.c0[:, :m], pp.c0[:, m]
            a[range(m, n), range(m, n)] = 1.0  # padding: an isolated node, pole at −1e13
            b[range(m, n), range(m, n)] = 1e-13
            s1 = np.zeros((j, n, n + 1))
            s2 = np.zeros((j, n, n + 1))
            jj = len(pp.variables)
            s1[:jj, :m, :m], s1[:jj, :m, n] = pp.sg[:, :, :m], pp.sg[:, :, m]
            s2[:jj, :m, :m], s2[:jj, :m, n] = pp.sc[:, :, :m], pp.sc[:, :, m]
            kinds = [v.kind for v in pp.variables] + [""] * (j - jj)
            lo_k = np.pad(np.log10([v.lo for v in pp.variables]), (0, j - jj))
            hi_k = np.pad(np.log10([v.hi for v in pp.variables]), (0, j - jj))
            first = len(g0)
            for _ in range(st.shape[0]):
                g0.append(a)
                c0.append(b)
                sg.append(s1)
                sc.append(s2)
                inv.append([q == "r" for q in kinds])
                gm.append([q == "gm" for q in kinds])
                lo.append(lo_k)
                hi.append(hi_k)
                out.append(pp.out)
                box.append(b_k)
                flags.append((tg.stable, tg.loop_pm, needs_ugf))
            self._rows.append(range(first, len(g0)))
        self.rows = len(g0)
        t = torch.tensor
        self.g0, self.c0 = t(np.array(g0)), t(np.array(c0))
        self.sg, self.sc = t(np.array(sg)), t(np.array(sc))
        self.sign = torch.where(t(np.array(inv)), -1.0, 1.0).double()
        self.gm = t(np.array(gm))
        self.lo, self.hi = t(np.array(lo)), t(np.array(hi))
        self.out = t(np.array(out))
        self.box = t(np.array(box, dtype=float))  # [B, 3 quantities, lo/hi]
        flags = np.array(flags, dtype=bool)
        self.stable, self.loop_pm, self.needs_ugf = (t(flags[:, i]) for i in range(3))

    def rows_of(self, k: int) -> range:
        return self._rows[k]

    def matrices(self, theta):
        """[G | g_in] and [C | c_in] of every row: ``[B, n, n + 1]`` each."""
        import torch

        y = torch.pow(10.0, self.sign * theta) * (self.lo != self.hi)
        g = self.g0 + torch.einsum("bj,bjrc->brc", y, self.sg)
        c = self.c0 + torch.einsum("bj,bjrc->brc", y, self.sc)
        return g, c


def _brackets(g, c, batch: _Batch, freq_hz: np.ndarray) -> dict[str, np.ndarray]:
    """Locate every row's 0 dB crossings on the sweep grid (pole–residue, no gradient).

    A coarse pass on every 10th point finds the crossings, then the 11 fine points of each
    coarse interval place it (two crossings within 0.1 decade can hide from the coarse
    pass; the exact measurement of the result has the last word).

    Returns ``idx`` ``[B, _CROSSINGS]`` (sample k of each crossing, −1 when none), plus
    ``above`` (|H| > 1 on the whole grid) and ``below`` (never reaches 1) flags.
    """
    n = batch.n
    gm, cm = g[..., :n].numpy(), c[..., :n].numpy()
    gi, ci = g[..., n].numpy(), c[..., n].numpy()
    out = batch.out.numpy()
    rows = np.arange(gm.shape[0])
    with np.errstate(all="ignore"):
        a = -np.linalg.solve(cm, gm)
        b0 = -np.linalg.solve(cm, gi[..., None])[..., 0]
        b1 = -np.linalg.solve(cm, ci[..., None])[..., 0]
        lam, vec = np.linalg.eig(a)
        w = np.linalg.solve(vec, (b0 + np.einsum("nij,nj->ni", a, b1))[..., None])[..., 0]
        res = vec[rows, out, :] * w
        d = b1[rows, out]

        def mag(r: np.ndarray, f: np.ndarray) -> np.ndarray:  # |H| of rows r at f [len(r), F]
            s = 2j * np.pi * f
            return np.abs(d[r, None] + (res[r, None, :] / (s[..., None] - lam[r, None, :])).sum(-1))

        coarse = mag(rows, np.broadcast_to(freq_hz[::10], (rows.size, freq_hz[::10].size)))
    above = coarse > 1.0
    change = above[:, 1:] != above[:, :-1]
    idx = np.full((rows.size, _CROSSINGS), -1)
    r_hit, k_hit = np.nonzero(change)
    order = np.zeros(r_hit.size, dtype=int)  # rank of each crossing within its row
    if r_hit.size:
        starts = np.r_[0, np.flatnonzero(np.diff(r_hit)) + 1]
        order = np.arange(r_hit.size) - np.repeat(starts, np.diff(np.r_[starts, r_hit.size]))
    keep = order < _CROSSINGS
    r_hit, k_hit, order = r_hit[keep], k_hit[keep], order[keep]
    if r_hit.size:
        fine_k = 10 * k_hit[:, None] + np.arange(11)
        with np.errstate(all="ignore"):
            fine = mag(r_hit, freq_hz[fine_k]) > 1.0
        step = np.argmax(fine[:, 1:] != fine[:, :-1], axis=1)  # 0 when the pass lost it
        idx[r_hit, order] = fine_k[np.arange(r_hit.size), step]
    finite = np.isfinite(coarse).all(axis=1)
    return {
        "idx": idx,
        "above": finite & above.all(axis=1),
        "below": finite & ~above.any(axis=1),
    }


def _terms(g, c, theta, batch: _Batch, brackets, freq, objective: str):
    """Per-row violation (squared hinges, 0 inside) and objective, both differentiable."""
    import torch

    n = batch.n
    rows = torch.arange(batch.rows)
    idx = torch.tensor(brackets["idx"])
    has = idx >= 0
    k = idx.clamp(min=0)
    # frequencies: 1 Hz, then both ends of each crossing's bracket
    f = torch.cat([freq[:1].expand(batch.rows, 1), freq[k], freq[k + 1]], dim=1)  # [B, 1+2C]
    s = (2j * math.pi * f).to(torch.complex128)
    gc, cc = g.to(torch.complex128), c.to(torch.complex128)
    lhs = gc[:, None, :, :n] + s[..., None, None] * cc[:, None, :, :n]
    rhs = -(gc[:, None, :, n] + s[..., None] * cc[:, None, :, n])
    x = torch.linalg.solve(lhs, rhs)  # [B, Q, n]
    h = x[rows, :, batch.out]  # [B, Q]
    mag = h.abs().clamp_min(1e-300)
    gain = 20 * torch.log10(mag[:, 0])
    c_n = _CROSSINGS
    h0, h1 = h[:, 1 : 1 + c_n], h[:, 1 + c_n :]
    m0, m1 = mag[:, 1 : 1 + c_n], mag[:, 1 + c_n :]
    a, b = 20 * torch.log10(m0), 20 * torch.log10(m1)
    t = a / torch.where(a != b, a - b, torch.ones_like(a))
    f0, f1 = freq[k], freq[k + 1]
    ugf = torch.log10((f0 + t * (f1 - f0)).clamp_min(1e-3))[:, 0]
    hc = h0 + ((1 - m0) / torch.where(m1 != m0, m1 - m0, torch.ones_like(m0))) * (h1 - h0)
    # the loop sign: that of the exact DC gain (a real solve, no gradient needed)
    with torch.no_grad():
        h_dc = torch.linalg.solve(g[..., :n], -g[..., n])[rows, batch.out]
        sign = torch.where(h_dc < 0, -1.0, 1.0).double()
    ang = torch.rad2deg(torch.angle(hc))  # phase of H at each crossing
    pm_bench = _wrap(180 + ang[:, 0])
    pm_loop = _wrap(180 + ang + torch.where(sign < 0, 180.0, 0.0)[:, None])
    pm_loop = torch.where(has, pm_loop, torch.full_like(pm_loop, 1e9)).min(dim=1).values
    pm = torch.where(batch.loop_pm, pm_loop, pm_bench)

    viol = torch.zeros(batch.rows, dtype=torch.float64)
    first = has[:, 0]
    for i, (q, v, ok) in enumerate(
        (("gain_db", gain, None), ("ugf_hz", ugf, first), ("pm_deg", pm, first))
    ):
        lo, hi = batch.box[:, i, 0], batch.box[:, i, 1]
        e = (torch.relu(lo - v) + torch.relu(v - hi)) / _SCALE[q]
        viol = viol + (e**2 if ok is None else torch.where(ok, e**2, torch.zeros_like(e)))
    # no crossing: push the gain through 0 dB or the response under it by 100 GHz
    above, below = torch.tensor(brackets["above"]), torch.tensor(brackets["below"])
    need = batch.needs_ugf & ~first
    viol = viol + torch.where(need & below, (1 + torch.relu(-gain) / 10) ** 2, 0.0)
    if (need & above).any():
        top = _last_gain(gc, cc, batch, freq)
        viol = viol + torch.where(need & above, (1 + torch.relu(top) / 10) ** 2, 0.0)
    if batch.stable.any():
        a_ol = -torch.linalg.solve(c[..., :n], g[..., :n])
        e_out = torch.nn.functional.one_hot(batch.out, n).double()
        g_cl = g[..., :n] - sign[:, None, None] * g[..., n][:, :, None] * e_out[:, None, :]
        c_cl = c[..., :n] - sign[:, None, None] * c[..., n][:, :, None] * e_out[:, None, :]
        a_cl = -torch.linalg.solve(c_cl, g_cl)
        for mat in (a_ol, a_cl):
            with torch.no_grad():  # the gradient only where a pole is past the damping line
                lam = torch.linalg.eigvals(mat)
                ratio = lam.real / lam.abs().clamp_min(1.0)
                active = batch.stable & ((ratio + DAMPING) > 0).any(dim=1)
            if not active.any():
                continue
            lam = torch.linalg.eigvals(mat[active])
            # Re p / |p| with |p| held: a real pole's ratio is ±1 and would have no gradient
            ratio = lam.real / lam.abs().detach().clamp_min(1.0)
            e = (torch.relu(ratio + DAMPING) / 0.05).pow(2).sum(dim=1)
            viol = viol.index_add(0, torch.nonzero(active)[:, 0], e)
    obj = _objective(objective, theta, batch, gain, ugf, pm, pm_bench, first)
    return viol, obj


def _last_gain(gc, cc, batch: _Batch, freq):
    """20·log10|H| at the top of the sweep (100 GHz)."""
    import torch

    n = batch.n
    s = 2j * math.pi * freq[-1].item()
    x = torch.linalg.solve(gc[..., :n] + s * cc[..., :n], -(gc[..., n] + s * cc[..., n]))
    return 20 * torch.log10(x[torch.arange(batch.rows), batch.out].abs().clamp_min(1e-300))


def _objective(objective, theta, batch, gain, ugf, pm, pm_bench, first):
    import torch

    if objective == "power":
        p = (torch.pow(10.0, theta) * batch.gm).sum(dim=1)
        return torch.log10(p.clamp_min(1e-30))
    if objective == "fom":
        return -(1.2 * gain.abs() / 100 + 1.6 * pm_bench / -90 + 10 * torch.pow(10.0, ugf) / 1e9)
    out = torch.zeros_like(gain)
    for i, (q, v) in enumerate((("gain_db", gain), ("ugf_hz", ugf), ("pm_deg", pm))):
        lo, hi = batch.box[:, i, 0], batch.box[:, i, 1]
        has_lo, has_hi = torch.isfinite(lo), torch.isfinite(hi)
        lo0, hi0 = torch.where(has_lo, lo, 0.0), torch.where(has_hi, hi, 0.0)
        both = ((v - (lo0 + hi0) / 2) / ((hi0 - lo0) / 2 + 1e-12)) ** 2
        above = (1 - torch.clamp((v - lo0) / _REACH[q], max=1.0)) ** 2
        below = (1 - torch.clamp((hi0 - v) / _REACH[q], max=1.0)) ** 2
        zero = torch.zeros_like(v)
        term = torch.where(
            has_lo & has_hi, both, torch.where(has_lo, above, torch.where(has_hi, below, zero))
        )
        out = out + (term if q == "gain_db" else torch.where(first, term, zero))
    return out


def _wrap(x):
    """Degrees into (−180, 180] (``measure.wrap_deg`` on tensors)."""
    return -torch_remainder(180.0 - x, 360.0) + 180.0


def torch_remainder(a, b):
    import torch

    return torch.remainder(a, b)


__all__ = ["OBJECTIVES", "Target", "SizingResult", "Deck", "load_sizable", "size"]
