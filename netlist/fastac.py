"""The exact small-signal engine: H(jω) of many linear circuits at once, no simulator.

circuit → testbench → mna → **fastac** → measure → report. These circuits are small linear
networks, so their AC response is exact from the MNA pencil (mna.py). With C invertible
(every OCB circuit without a 0 F or 0 Ω part) H has the pole–residue form

    H(s) = d + Σᵢ rᵢ / (s − λᵢ),   A = −C⁻¹G = V·Λ·V⁻¹,

with d = −e_outᵀC⁻¹c_in and r = (e_outᵀV) ⊙ V⁻¹(b₀ + A·b₁), b₀ = −C⁻¹g_in, b₁ = −C⁻¹c_in
(s(sI − A)⁻¹ = I + A(sI − A)⁻¹ moves the input capacitor's s·c_in into d). One batched
eigen-decomposition per matrix size and one (N, F, m) division sum give every sweep.
A circuit whose C is singular is solved directly at every frequency instead. The result is
then measured by ``measure.py`` exactly like an ngspice sweep, with the same stability
verdicts.

Near DC the pole–residue sum adds large terms to a small H and loses digits, so each point
takes the better of it and H(0) + s·Σ rᵢ/(λᵢ(s − λᵢ)); every circuit is then checked against
direct solves at 24 frequencies and solved directly everywhere when off by more than 1e-9.
On 20,000 random circuits H agrees with ngspice to 1.1e-7 and every verdict is the same
(docs/simulation.md). ngspice stays the default of ``verify`` and the judge of every reported
pass; this engine is for screening and search.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import CktGenError
from ..spec import Spec
from .measure import Measurement, loop_margin, measure_opamp
from .mna import Pencil
from .stability import _blas_controller, _regular, analyse_many

NAME = "fast"
OCB_FREQ_HZ = np.logspace(0, 11, 1101)  # .ac dec 100 1 100G, as ngspice lays it out
_CHECK_TOL = 1e-9  # pole–residue vs direct solves at the 24 probes; else solve everywhere


def sweep(pencils: list[Pencil], freq_hz: np.ndarray = OCB_FREQ_HZ) -> np.ndarray:
    """H(j2πf) = V(out)/V(in) of every pencil at every frequency.

    Shapes:
        freq_hz: ``[F]``; returns ``[N, F]`` complex.
    """
    freq_hz = np.asarray(freq_hz, dtype=float)
    out = np.empty((len(pencils), freq_hz.size), dtype=complex)
    s = 2j * np.pi * freq_hz
    sizes: dict[int, list[int]] = {}
    for i, p in enumerate(pencils):
        sizes.setdefault(p.g.shape[0], []).append(i)
    with _blas_controller().limit(limits=1, user_api="blas"):
        for idx in sizes.values():
            group = [pencils[i] for i in idx]
            out[idx] = _sweep_size(group, s)
    return out


def _sweep_size(ps: list[Pencil], s: np.ndarray) -> np.ndarray:
    """``sweep`` for pencils of one size (pole–residue where safe, else direct solves)."""
    g = np.stack([p.g for p in ps])
    c = np.stack([p.c for p in ps])
    g_in = np.stack([p.g_in for p in ps])
    c_in = np.stack([p.c_in for p in ps])
    out_idx = np.array([p.out for p in ps])
    h = np.empty((len(ps), s.size), dtype=complex)
    ok = _regular(c)
    k = np.flatnonzero(ok)
    if k.size:
        rows = np.arange(k.size)
        a = -np.linalg.solve(c[k], g[k])
        b0 = -np.linalg.solve(c[k], g_in[k][..., None])[..., 0]
        b1 = -np.linalg.solve(c[k], c_in[k][..., None])[..., 0]
        lam, vec = np.linalg.eig(a)
        with np.errstate(all="ignore"):
            weights = np.linalg.solve(vec, (b0 + np.einsum("nij,nj->ni", a, b1))[..., None])
            res = vec[rows, out_idx[k], :] * weights[..., 0]  # (K, m) residues
            d = b1[rows, out_idx[k]]  # H(∞)
            h0 = np.linalg.solve(g[k], -g_in[k][..., None])[rows, out_idx[k], 0]  # exact H(0)
            terms = res[:, None, :] / (s[None, :, None] - lam[:, None, :])  # (K, F, m)
            # Two exact forms, each accurate where its terms are small next to H:
            # H = H(∞) + Σ rᵢ/(s − λᵢ) at high frequency, H = H(0) + s·Σ rᵢ/(λᵢ(s − λᵢ)) at
            # low frequency (there the first sums large terms to a small H: 1e-5 error).
            terms0 = terms * (s[None, :, None] / lam[:, None, :])
            hi = d[:, None] + terms.sum(axis=2)
            lo = h0[:, None] + terms0.sum(axis=2)
            use_lo = (
                np.abs(terms0).sum(axis=2) + np.abs(h0)[:, None]
                < np.abs(terms).sum(axis=2) + np.abs(d)[:, None]
            )
            hk = np.where(use_lo, lo, hi)
        good = np.isfinite(hk).all(axis=1)
        # check against direct solves at a few frequencies; any doubt: solve everywhere
        probe = np.linspace(0, s.size - 1, 24).astype(int)
        sp = s[probe][None, :, None, None]
        lhs = g[k][:, None] + sp * c[k][:, None]  # (K, 24, n, n)
        rhs = -(g_in[k][:, None] + sp[..., 0] * c_in[k][:, None])  # (K, 24, n)
        with np.errstate(all="ignore"):
            ref = np.linalg.solve(lhs, rhs[..., None])[rows, :, out_idx[k], 0]
            err = np.abs(hk[:, probe] - ref) / np.abs(ref)
        good &= np.nan_to_num(err, nan=np.inf).max(axis=1) <= _CHECK_TOL
        h[k[good]] = hk[good]
        ok[k[~good]] = False
    for i in np.flatnonzero(~ok):  # singular C, or off at a probe: solve at every point
        h[i] = ps[i].transfer(s)
    return h


def verify(
    items: Iterable[Any],
    spec: Spec | None = None,
    workers: int | None = None,
    timeout_s: float = 10.0,
    keep_sweep: bool = False,
    progress: bool = False,
    out_node: str = "out",
) -> list:
    """``ngspice.verify`` with the exact engine: same items, results and measurement rules.

    ``workers``, ``timeout_s`` and ``progress`` are accepted for the common signature; the
    engine runs in this process, batched. A deck that gives no linear model (parameters,
    behavioural sources) gets an invalid result saying so.
    """
    from .ngspice import SimResult, _label, job_for, pencil_of

    items = list(items)
    results: list[Any] = [None] * len(items)
    jobs, pencils, where = [], [], []
    for i, item in enumerate(items):
        try:
            job = job_for(item, i, keep_sweep, out_node)
            pencils.append(pencil_of(job))
        except CktGenError as exc:
            msg = f"fast engine: {exc}"
            m = Measurement.invalid(msg, NAME, file=_label(item, i)).with_spec(spec)
            results[i] = SimResult(m, error=msg)
            continue
        jobs.append(job)
        where.append(i)
    h = sweep(pencils)
    for job, i, hi, st in zip(jobs, where, h, analyse_many(pencils)):
        m = measure_opamp(OCB_FREQ_HZ, hi, NAME).with_file(job.label)
        m = m._with(pm_loop_deg=loop_margin(hi, st.sign)).with_stability(st).with_spec(spec)
        results[i] = SimResult(m, OCB_FREQ_HZ if keep_sweep else None, hi if keep_sweep else None)
    return results
