"""The gradient path: Adam through exact, differentiable gain, UGF, PM and poles (torch).

Everything the spec reads is an exact function of the log10 device values:

- gain: 20·log10|H(j2π·1 Hz)| from one complex solve;
- UGF and PM: the measurement's own interpolation (``measure.py``) between the two sweep
  points that bracket each 0 dB crossing, from exact solves at those points (the brackets
  come from a pole–residue sweep of the grid, redone every ``_REGRID`` steps);
- stability: every pole (eigenvalues of −C⁻¹G) open loop and in the unity-gain loop must
  have Re p ≤ −``DAMPING``·|p|.

Each is a squared hinge past the shrunk box, times ``_PENALTY``, plus the objective with a
small weight. All starts of all circuits share one padded batch (the padding is inert).
"""

from __future__ import annotations

import math

import numpy as np

from ..netlist.measure import wrap_deg
from .target import DAMPING, MARGIN, REACH, SCALE, Target, bounds

_PENALTY = 100.0
_OBJ_WEIGHT = {"power": 1.0, "margin": 0.3, "fom": 0.1}
_CROSSINGS = 3  # 0 dB crossings followed per start (the loop PM is the smallest)
_REGRID = 5  # steps between full sweeps
_PATIENCE, _SETTLED = 3, 1e-3  # stop when no best objective moved 1e-3 in 3 regrids
_LR = 0.1  # Adam step in decades, cosine-decayed to a tenth over the run


def optimise(
    pps: list, starts: list[np.ndarray], targets: list[Target], objective: str, steps: int
):
    """Adam on every start of every pencil at once; per pencil, the best points seen."""
    from ..generation import torch_threads

    with torch_threads(1):  # batched small matrices: a second thread only adds overhead
        return _adam_run(pps, starts, targets, objective, steps)


def _adam_run(pps, starts, targets, objective: str, steps: int):
    import torch

    from ..netlist.fastac import OCB_FREQ_HZ

    batch = _Batch(pps, starts, targets)
    theta = torch.tensor(np.concatenate(starts_padded(starts, batch.j)), requires_grad=True)
    lo, hi = batch.lo, batch.hi
    adam = _Adam(theta.shape)
    freq = torch.tensor(OCB_FREQ_HZ)
    best_obj = torch.full((batch.rows,), math.inf, dtype=torch.float64)
    best_viol = torch.full((batch.rows,), math.inf, dtype=torch.float64)
    best_theta = theta.detach().clone()
    problem = torch.tensor([k for k in range(len(pps)) for _ in batch.rows_of(k)])
    history: list[torch.Tensor] = []
    for step in range(steps):
        if step % _REGRID == 0 and _settled(best_obj, problem, len(pps), history):
            break
        g, c = batch.matrices(theta)
        if step % _REGRID == 0:
            brackets = _brackets(g.detach(), c.detach(), batch, OCB_FREQ_HZ)
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
            b_k = [bounds(getattr(tg.spec, q), q) for q in ("gain_db", "ugf_hz", "pm_deg")]
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
    pm_bench = wrap_deg(180 + ang[:, 0])  # measure.py's rule; % works on tensors too
    pm_loop = wrap_deg(180 + ang + torch.where(sign < 0, 180.0, 0.0)[:, None])
    pm_loop = torch.where(has, pm_loop, torch.full_like(pm_loop, 1e9)).min(dim=1).values
    pm = torch.where(batch.loop_pm, pm_loop, pm_bench)

    viol = torch.zeros(batch.rows, dtype=torch.float64)
    first = has[:, 0]
    for i, (q, v, ok) in enumerate(
        (("gain_db", gain, None), ("ugf_hz", ugf, first), ("pm_deg", pm, first))
    ):
        lo, hi = batch.box[:, i, 0], batch.box[:, i, 1]
        e = (torch.relu(lo - v) + torch.relu(v - hi)) / SCALE[q]
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
        above = (1 - torch.clamp((v - lo0) / REACH[q], max=1.0)) ** 2
        below = (1 - torch.clamp((hi0 - v) / REACH[q], max=1.0)) ** 2
        zero = torch.zeros_like(v)
        term = torch.where(
            has_lo & has_hi, both, torch.where(has_lo, above, torch.where(has_hi, below, zero))
        )
        out = out + (term if q == "gain_db" else torch.where(first, term, zero))
    return out
