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

    omega = 2j * np.pi * np.asarray(freq_hz, dtype=float)
    y = g[None, :, :] + omega[:, None, None] * c[None, :, :]  # (F, size, size)
    n = len(nets)
    # unknown nets: Y_uu V_u = −Y_u,in · 1 V
    v = np.linalg.solve(y[:, :n, :n], -y[:, :n, n:])[:, :, 0]  # (F, n)
    out = alias.get(OUT_NET, OUT_NET)
    return np.ones(len(omega), complex) if out == IN_NET else v[:, index[out]]


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
