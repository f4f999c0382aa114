"""An independent numpy nodal (MNA) solver for OCB testbenches, to cross-check ngspice.

It reads the same element list that the deck writer uses (``build_testbench``) and solves
Y(jω)·V = 0 with the input net held at 1 V by the ideal source, so H = V(out). Element
conventions follow SPICE: a G element's current gm·(V(c+) − V(c−)) leaves its out+ net and
enters its out− net. ngspice replaces an exactly-zero resistance by 1 mΩ without a message,
so our decks write R = 0 as a 0 V source (an ideal short); ``ZERO_OHM_AS = None`` mirrors
that (the two nets merged), and ``zero_ohm=1e-3`` reproduces ngspice's own handling of a
literal ``R … 0``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cktgen_eda.circuit import Circuit
from cktgen_eda.netlist.testbench import GND, IN_NET, OUT_NET, build_testbench

OCB_FREQ_HZ = np.logspace(0, 11, 1101)  # .ac dec 100 1 100G
ZERO_OHM_AS = None  # R = 0 is an ideal short (our decks write it as a 0 V source)


def testbench_matrices(
    circuit: Circuit, zero_ohm: float | None = ZERO_OHM_AS
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Nodal G and C of the testbench over the unknown nets plus, last, the driven ``in``.

    Returns ``(g, c, out)``: ``[n+1, n+1]`` matrices (rows of the unknown nets are KCL; the
    last row is unused) and the output net's index (None when ``out`` is shorted to ``in``).
    """
    elements = build_testbench(circuit).elements
    alias = _shorted_nets(elements) if zero_ohm is None else {}
    elements = [
        replace(el, nets=tuple(alias.get(n, n) for n in el.nets))
        for el in elements
        if not (zero_ohm is None and el.name[0] == "R" and el.value == 0)
    ]
    nets = sorted({n for el in elements for n in el.nets} - {GND, IN_NET})
    index = {n: k for k, n in enumerate(nets)}
    index[IN_NET] = len(nets)  # the driven net goes last; ground is dropped
    size = len(nets) + 1
    g = np.zeros((size, size))
    c = np.zeros((size, size))

    def stamp(matrix: np.ndarray, a: str, b: str, y: float) -> None:
        ia, ib = index.get(a), index.get(b)
        if ia is not None:
            matrix[ia, ia] += y
        if ib is not None:
            matrix[ib, ib] += y
        if ia is not None and ib is not None:
            matrix[ia, ib] -= y
            matrix[ib, ia] -= y

    for el in elements:
        kind = el.name[0].upper()
        if kind == "R":
            stamp(g, *el.nets, 1.0 / (el.value if el.value != 0 else zero_ohm))
        elif kind == "C":
            stamp(c, *el.nets, el.value)
        elif kind == "G":
            p, m, cp, cm = (index.get(n) for n in el.nets)
            for row, sign_row in ((p, 1.0), (m, -1.0)):
                for col, sign_col in ((cp, 1.0), (cm, -1.0)):
                    if row is not None and col is not None:
                        g[row, col] += sign_row * sign_col * el.value
        else:
            raise ValueError(f"nodal solver cannot handle element {el.name}")
    out = alias.get(OUT_NET, OUT_NET)
    return g, c, None if out == IN_NET else index[out]


def solve_testbench(
    circuit: Circuit, freq_hz: np.ndarray = OCB_FREQ_HZ, zero_ohm: float | None = ZERO_OHM_AS
) -> np.ndarray:
    """H(f) = V(out)/V(in) of the circuit's OCB testbench.

    Args:
        circuit: a valid OCB-style circuit.
        freq_hz: sweep frequencies.
        zero_ohm: resistance used for R = 0 (ngspice's 1 mΩ), or None for an ideal short.

    Shapes:
        freq_hz: ``[F]``; returns ``[F]`` complex.
    """
    g, c, out = testbench_matrices(circuit, zero_ohm)
    n = g.shape[0] - 1
    omega = 2j * np.pi * np.asarray(freq_hz, dtype=float)
    if out is None:
        return np.ones(len(omega), complex)
    y = g[None, :, :] + omega[:, None, None] * c[None, :, :]  # (F, size, size)
    # unknown nets: Y_uu V_u = −Y_u,in · 1 V
    v = np.linalg.solve(y[:, :n, :n], -y[:, :n, n:])[:, :, 0]  # (F, n)
    return v[:, out]


def exact_poles(circuit: Circuit, digits: int = 40) -> tuple[list[complex], list[complex]]:
    """Open-loop and unity-gain closed-loop poles in ``digits``-digit arithmetic (mpmath).

    An independent check of ``cktgen_eda.netlist.stability``: own matrices, the DC sign from
    an exact-precision solve, the closed loop V(in) = u − k·V(out) substituted by hand, and
    the eigenvalues of −C⁻¹G (C of OCB testbenches is invertible without 0 F / 0 Ω parts).
    """
    import mpmath as mp

    g, c, out = testbench_matrices(circuit)
    n = g.shape[0] - 1
    with mp.workdps(digits):
        guu, cuu = mp.matrix(g[:n, :n].tolist()), mp.matrix(c[:n, :n].tolist())
        gin, cin = mp.matrix(g[:n, n].tolist()), mp.matrix(c[:n, n].tolist())
        h0 = (mp.lu_solve(guu, -gin))[out]
        k = -1 if h0 < 0 else 1
        gcl, ccl = guu.copy(), cuu.copy()
        for r in range(n):
            gcl[r, out] -= k * gin[r]
            ccl[r, out] -= k * cin[r]

        def eig(gm, cm):
            return [complex(z) for z in mp.eig(-(mp.inverse(cm) * gm), left=False, right=False)]

        return eig(guu, cuu), eig(gcl, ccl)


def _shorted_nets(elements) -> dict[str, str]:
    """Net → representative for nets joined by 0 Ω resistors (ground, then ``in``, win)."""
    parent: dict[str, str] = {}

    def find(n: str) -> str:
        while parent.get(n, n) != n:
            n = parent[n]
        return n

    rank = {GND: 0, IN_NET: 1}
    for el in elements:
        if el.name[0] == "R" and el.value == 0:
            a, b = sorted((find(el.nets[0]), find(el.nets[1])), key=lambda n: rank.get(n, 2))
            if a != b:
                parent[b] = a
    return {n: find(n) for n in parent}
