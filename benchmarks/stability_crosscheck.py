"""Acceptance measurement of the stability verdicts (netlist/stability.py) on random circuits.

For each recipe (ocb101, ocb301 generator settings; a fresh topology per circuit), seeded:

- poles: the batched path (``analyse_many``) against the QZ path (``analyse``) on every
  circuit, and both against 50-digit eigenvalues (mpmath) of the same pencil, open loop and
  closed with the 50-digit DC sign (``--mpmath`` circuits, default all);
- verdicts: ``stable``, ``cl_stable`` and the loop sign, batched vs QZ and vs the verdicts of
  the 50-digit poles;
- ngspice: the open-loop step response (``netlist/transient.py``: trapezoidal, zero state,
  every net watched) grows exactly when ``stable`` is False, on every circuit; the
  unity-gain follower's grows exactly when ``cl_stable`` is False, on ``--closed`` circuits
  (a seeded sample, default all); the follower's 1 % settling time against ``settling_s``
  on the cl-stable ones among them.

Prints a table and writes JSON (benchmarks/results/stability_crosscheck.json).

Usage: python benchmarks/stability_crosscheck.py [--n 1200] [--closed 1200] [--mpmath 1200]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

import mpmath as mp
import numpy as np

from cktgen_eda.data.generator import generate
from cktgen_eda.data.recipes import get_recipe
from cktgen_eda.netlist import transient as tr
from cktgen_eda.netlist.mna import pencil_from_deck
from cktgen_eda.netlist.spice import write_spice
from cktgen_eda.netlist.stability import analyse, analyse_many, closed_loop, is_stable

RECIPES = ("ocb101", "ocb301")
OUT = Path(__file__).resolve().parent / "results" / "stability_crosscheck.json"
DIGITS = 50
EPS = float(np.finfo(float).eps)
SETTLE_REL = 0.01  # settling agreement: 1 % plus half a period of the fastest ringing mode


def mp_poles(g: np.ndarray, c: np.ndarray, digits: int = DIGITS) -> np.ndarray:
    """Finite roots of det(G + sC) in ``digits``-digit arithmetic: 1/μ for the eigenvalues μ
    of −G⁻¹C, dropping |μ| ≤ 1e-20·max|μ| (infinite poles; a μ of 0 computes as ≈ 1e-50,
    or 1e-25 inside a 2×2 Jordan block, while finite poles span < 1e15)."""
    with mp.workdps(digits):
        mu = mp.eig(-(mp.inverse(mp.matrix(g.tolist())) * mp.matrix(c.tolist())), False, False)
        big = max(abs(m) for m in mu)
        return np.array([complex(1 / m) for m in mu if abs(m) > mp.mpf("1e-20") * big])


def pole_error(ref: np.ndarray, got: np.ndarray) -> tuple[float, float, float]:
    """How far ``got`` is from ``ref``, each reference pole matched to its nearest unused
    computed one: max |Δp|/|p|; max |Δp|/(ε·max|p|), in units of a backward-stable
    solver's error scale (ε = 2.2e-16); and the verdict margin min |Re p|/|Δp| (> 1: no
    pole's half plane can be wrong). (inf, inf, 0) when the counts differ."""
    if ref.size != got.size:
        return math.inf, math.inf, 0.0
    if ref.size == 0:
        return 0.0, 0.0, math.inf
    scale = EPS * float(np.abs(ref).max())
    left = list(got)
    rel = units = 0.0
    margin = math.inf
    for z in sorted(ref, key=abs, reverse=True):
        d = abs(z - left.pop(int(np.argmin([abs(z - w) for w in left]))))
        rel, units = max(rel, d / abs(z)), max(units, d / scale)
        margin = min(margin, abs(z.real) / d if d > 0 else math.inf)
    return rel, units, margin


def sample(recipe: str, n: int, seed: int) -> list[str]:
    """``n`` decks of random circuits with the recipe's generator settings, one topology each."""
    settings = get_recipe(recipe).settings
    return [write_spice(c) for _, c in generate(random.Random(seed), n, 1, settings)]


def pole_checks(pencils, many, qz, n_mp: int) -> dict:
    """Batched vs QZ on all; both vs 50-digit eigenvalues on the first ``n_mp``."""
    agree = {"stable": 0, "cl_stable": 0, "sign": 0}
    errs: dict[str, list[tuple]] = {"qz": [], "mp": [], "mp_qz": [], "mp_cl": []}
    mp_verdicts, axis, zero_dc, sign_off = 0, math.inf, [], []
    for i, (p, a, b) in enumerate(zip(pencils, many, qz)):
        agree["stable"] += a.stable == b.stable
        agree["cl_stable"] += a.cl_stable == b.cl_stable
        agree["sign"] += a.sign == b.sign
        errs["qz"].append(pole_error(np.array(b.poles), np.array(a.poles)))
        if i >= n_mp:
            continue
        ref = mp_poles(p.g, p.c)
        errs["mp"].append(pole_error(ref, np.array(a.poles)))
        errs["mp_qz"].append(pole_error(ref, np.array(b.poles)))
        sign, zero = _mp_sign(p)
        if zero:
            zero_dc.append(i)
        if sign != a.sign:
            sign_off.append(i)
        cl = closed_loop(p, sign)
        ref_cl = mp_poles(cl.g, cl.c)
        errs["mp_cl"].append(pole_error(ref_cl, np.array(a.cl_poles)))
        same = (is_stable(ref), is_stable(ref_cl), sign) == (a.stable, a.cl_stable, a.sign)
        mp_verdicts += same
        both = np.concatenate((ref, ref_cl))
        axis = min(axis, float((np.abs(both.real) / np.abs(both)).min(initial=math.inf)))
    out = {"verdicts_batched_vs_qz": agree, "mpmath_circuits": min(n_mp, len(pencils))}
    out["verdicts_and_sign_agree_with_mpmath"] = mp_verdicts
    out["sign_differs_from_mpmath"] = sign_off
    out["dc_gain_exactly_zero"] = zero_dc
    out["closest_to_axis_abs_re_over_abs_p"] = axis
    for key, name in (
        ("qz", "batched_vs_qz"),
        ("mp", "batched_vs_mpmath"),
        ("mp_qz", "qz_vs_mpmath"),
        ("mp_cl", "batched_closed_vs_mpmath"),
    ):
        if errs[key]:
            rel, units, margin = np.array(errs[key]).T
            out[name] = {
                "worst_rel": float(rel.max()),
                "p99_rel": float(np.quantile(rel, 0.99)),
                "worst_eps_units": float(units.max()),
                "min_verdict_margin": float(margin.min()),
            }
    return out


def _mp_sign(p) -> tuple[int, bool]:
    """sgn H(0) from a 50-digit solve of G·x = −g_in, and whether H(0) is exactly 0
    (|H(0)| ≤ 1e-40·max|x|: then +1, stability.py's convention)."""
    with mp.workdps(DIGITS):
        x = mp.lu_solve(mp.matrix(p.g.tolist()), -mp.matrix(p.g_in.tolist()))
        zero = abs(x[p.out]) <= mp.mpf("1e-40") * max(abs(v) for v in x)
        return (1 if zero or x[p.out] > 0 else -1), bool(zero)


def transient_checks(texts, pencils, many, closed: bool, workers: int) -> dict:
    """Pole verdict vs ngspice growth; the disagreements listed by index."""
    t = time.perf_counter()
    checks = tr.check_decks(texts, closed, workers=workers, stabilities=many, pencils=pencils)
    verdict = [c.stable for c in checks]
    counts = {
        "circuits": len(checks),
        "pole_stable": sum(v is True for v in verdict),
        "pole_unstable": sum(v is False for v in verdict),
        "grows": sum(c.grows is True for c in checks),
        "bounded": sum(c.grows is False for c in checks),
        "agree": sum(c.agrees is True for c in checks),
        "disagree": [i for i, c in enumerate(checks) if c.agrees is False],
        "marginal": sum(bool(c.plan and c.plan.marginal) for c in checks),
        "no_transient": [[i, c.error] for i, c in enumerate(checks) if c.grows is None],
        "grew_off_output_only": [
            [i, c.net] for i, c in enumerate(checks) if c.grows and c.peak <= c.plan.bound
        ],
        "aborted_runs_kept": sum(bool(c.wave and c.wave.aborted) for c in checks),
        "max_stable_peak_over_bound": _ratio(checks, True, max),
        "min_unstable_peak_over_bound": _ratio(checks, False, min),
        "ngspice_s": time.perf_counter() - t,
    }
    return counts


def _ratio(checks, stable: bool, pick) -> float | None:
    """The extreme late peak / B (over the watched nets) among one verdict's circuits."""
    r = [c.ratio for c in checks if c.stable is stable and c.ratio is not None]
    return float(pick(r)) if r else None


def settling_checks(texts, pencils, many, idx, workers: int) -> dict:
    """Follower transient settling vs ``settling_s`` on the cl-stable circuits among ``idx``."""
    todo = [i for i in idx if many[i].cl_stable and many[i].settling_s]
    plans = [tr.settling_plan(pencils[i], many[i]) for i in todo]
    decks = [
        tr.transient_deck(texts[i], pl, closed_sign=many[i].sign) for i, pl in zip(todo, plans)
    ]
    waves = tr.run_decks(decks, workers=workers)
    rel, within, outside = [], 0, []
    for i, pl, w in zip(todo, plans, waves):
        st = many[i]
        cl = closed_loop(pencils[i], st.sign)
        final = float(np.linalg.solve(cl.g, -cl.g_in)[cl.out]) * tr.AMPLITUDE
        got = tr.settling_time(w, final, pl) if w.error is None else None
        if got is None:
            rel.append(math.inf)
            outside.append([i, st.settling_s, None, w.error])
            continue
        rel.append(got / st.settling_s - 1)
        osc = max(abs(p.imag) for p in st.cl_poles)
        half = math.pi / osc if osc else 0.0
        ok = abs(got - st.settling_s) <= SETTLE_REL * st.settling_s + half
        within += ok
        if not ok:
            outside.append([i, st.settling_s, got, None])
    rel = np.abs(rel)
    return {
        "circuits": len(todo),
        "within_1pct_plus_half_period": within,
        "outside": outside,
        "median_rel_diff": float(np.median(rel)) if rel.size else None,
        "worst_rel_diff": float(rel.max()) if rel.size else None,
    }


def run_recipe(recipe: str, n: int, n_closed: int, n_mp: int, seed: int, workers: int) -> dict:
    t = time.perf_counter()
    texts = sample(recipe, n, seed)
    pencils = [pencil_from_deck(x) for x in texts]
    many = analyse_many(pencils)
    t_many = time.perf_counter() - t
    qz = [analyse(p) for p in pencils]
    row = {"recipe": recipe, "seed": seed, "circuits": n, "analyse_many_s": t_many}
    row["shares"] = {
        "stable": sum(s.stable is True for s in many) / n,
        "cl_stable": sum(s.cl_stable is True for s in many) / n,
        "both": sum(s.stable is True and s.cl_stable is True for s in many) / n,
        "inverting": sum(s.sign < 0 for s in many) / n,
        "unknown": sum(s.stable is None or s.cl_stable is None for s in many) / n,
    }
    row["poles"] = pole_checks(pencils, many, qz, n_mp)
    row["open_loop"] = transient_checks(texts, pencils, many, False, workers)
    idx = random.Random(seed + 1).sample(range(n), min(n_closed, n))
    sub = [texts[i] for i in idx], [pencils[i] for i in idx], [many[i] for i in idx]
    closed = transient_checks(*sub, True, workers)
    for key in ("disagree",):
        closed[key] = [idx[i] for i in closed[key]]
    for key in ("no_transient", "grew_off_output_only"):
        closed[key] = [[idx[i], x] for i, x in closed[key]]
    row["closed_loop"] = closed
    row["settling"] = settling_checks(texts, pencils, many, idx, workers)
    row["seconds"] = time.perf_counter() - t
    return row


def print_table(rows: list[dict]) -> None:
    print(f"{'':36}" + "".join(f"{r['recipe']:>22}" for r in rows))

    def line(label: str, get) -> None:
        print(f"{label:36}" + "".join(f"{get(r)!s:>22}" for r in rows))

    line("circuits", lambda r: r["circuits"])
    for k in ("stable", "cl_stable", "both", "inverting", "unknown"):
        line(f"share {k}", lambda r, k=k: f"{r['shares'][k]:.3f}")
    line("verdicts batched = QZ (stable)", lambda r: r["poles"]["verdicts_batched_vs_qz"]["stable"])
    line("verdicts batched = QZ (cl)", lambda r: r["poles"]["verdicts_batched_vs_qz"]["cl_stable"])
    line("mpmath circuits", lambda r: r["poles"]["mpmath_circuits"])
    line(
        "verdicts+sign = 50-digit ones", lambda r: r["poles"]["verdicts_and_sign_agree_with_mpmath"]
    )
    line(
        "sign differs / H(0) exactly 0",
        lambda r: (
            f"{len(r['poles']['sign_differs_from_mpmath'])}/{len(r['poles']['dc_gain_exactly_zero'])}"
        ),
    )
    line("closest pole |Re p|/|p|", lambda r: _e(r["poles"]["closest_to_axis_abs_re_over_abs_p"]))
    for key, label in (
        ("batched_vs_qz", "batched/QZ"),
        ("batched_vs_mpmath", "batched/mp"),
        ("qz_vs_mpmath", "QZ/mp"),
        ("batched_closed_vs_mpmath", "closed/mp"),
    ):
        line(
            f"{label}: worst |dp|/|p| (p99)",
            lambda r, k=key: f"{_e(r['poles'][k]['worst_rel'])} ({_e(r['poles'][k]['p99_rel'])})",
        )
        line(
            f"{label}: worst |dp|/(eps max|p|)",
            lambda r, k=key: f"{r['poles'][k]['worst_eps_units']:.3g}",
        )
        line(f"{label}: min |Re p|/|dp|", lambda r, k=key: _e(r["poles"][k]["min_verdict_margin"]))
    for key, name in (("open_loop", "open"), ("closed_loop", "closed")):
        line(f"{name}: transients", lambda r, k=key: r[k]["circuits"])
        line(
            f"{name}: pole-stable / unstable",
            lambda r, k=key: f"{r[k]['pole_stable']}/{r[k]['pole_unstable']}",
        )
        line(f"{name}: agree with ngspice", lambda r, k=key: r[k]["agree"])
        line(f"{name}: disagree", lambda r, k=key: len(r[k]["disagree"]))
        line(
            f"{name}: no transient / marginal",
            lambda r, k=key: f"{len(r[k]['no_transient'])}/{r[k]['marginal']}",
        )
        line(
            f"{name}: max peak/B (stable)", lambda r, k=key: _e(r[k]["max_stable_peak_over_bound"])
        )
        line(
            f"{name}: min peak/B (unstable)",
            lambda r, k=key: _e(r[k]["min_unstable_peak_over_bound"]),
        )
    line("settling: compared", lambda r: r["settling"]["circuits"])
    line("settling: within 1% + T/2", lambda r: r["settling"]["within_1pct_plus_half_period"])
    line(
        "settling: median / worst rel",
        lambda r: f"{_e(r['settling']['median_rel_diff'])}/{_e(r['settling']['worst_rel_diff'])}",
    )
    line("seconds", lambda r: f"{r['seconds']:.0f}")


def _e(x) -> str:
    return "-" if x is None else f"{x:.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1200, help="circuits per recipe")
    parser.add_argument("--closed", type=int, default=1200, help="closed-loop sample per recipe")
    parser.add_argument("--mpmath", type=int, default=1200, help="mpmath-checked per recipe")
    parser.add_argument("--seed", type=int, default=2026, help="base seed")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rows = [
        run_recipe(name, args.n, args.closed, args.mpmath, args.seed + k, args.workers)
        for k, name in enumerate(RECIPES)
    ]
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"recipes": rows, "args": _args(args)}, indent=1, default=_plain)
    args.out.write_text(text + "\n")
    print(f"wrote {args.out}")


def _plain(x):
    """numpy scalars as Python numbers (JSON)."""
    return x.item() if isinstance(x, np.generic) else str(x)


def _args(args) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


if __name__ == "__main__":
    main()
