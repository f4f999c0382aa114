"""A circuit's MNA pencil as an affine function of its device values: what sizing varies.

circuit or deck → **parametric** → sizing → circuit or deck. The pencil of mna.py is linear
in every element's admittance: a resistor adds 1/R, a capacitor C and a VCCS its signed gm
through a fixed stamp of ±1 entries. So with the sizing variables θⱼ = log10(valueⱼ)

    [G | g_in] = G₀ + Σⱼ yⱼ·Sgⱼ,   [C | c_in] = C₀ + Σⱼ yⱼ·Scⱼ,   yⱼ = 10^(∓θⱼ)

(1/R for resistors, the value itself otherwise), where the last column is the input net's.
Which elements vary and within which range:

- OCB circuits: every R, C and gm of the subgraphs, within the benchmark's value ranges
  (``VALUE_RANGES``: R 10 kΩ–10 MΩ, C 1 fF–2.5 pF, |gm| 10 µS–10 mS, i.e. OCB feature values
  0.1–100, with C up to 250 as in the ``ocb101`` recipe); the gm cells' 1 MΩ ∥ 50 fF loads
  are part of the testbench and stay fixed.
- Plain decks: every top-level R, C and G element with a plain non-zero value, within two
  decades either way of the deck's value (``DECK_SPREAD``); elements inside subcircuits,
  inductors and E sources stay fixed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..circuit import Circuit, Node
from ..errors import NetlistError
from ..subgraphs import OCB_SCALE
from .mna import GROUND, Pencil, _flatten, pencil_from_deck, pencil_from_elements

# Sizing ranges of OCB device values, in SI units (OCB feature value × scale).
VALUE_RANGES = {
    "r": (0.1 * OCB_SCALE["r"], 100.0 * OCB_SCALE["r"]),
    "c": (0.1 * OCB_SCALE["c"], 250.0 * OCB_SCALE["c"]),
    "gm": (0.1 * OCB_SCALE["gm"], 100.0 * OCB_SCALE["gm"]),
}
DECK_SPREAD = 100.0  # plain decks: each value within ÷100 … ×100 of the deck's
SIGNIFICANT = 4  # sized values are written with 4 significant digits
_KIND = {"R": "r", "C": "c", "G": "gm"}


@dataclass(frozen=True)
class Variable:
    """One device value that sizing may change.

    Attributes:
        name: element name (``R3``, ``G5`` for OCB node 5's gm; the deck's name otherwise).
        kind: ``"r"``, ``"c"`` or ``"gm"``.
        value: the starting magnitude (Ω, F, S).
        lo, hi: the allowed magnitude range.
        node: the OCB node index (None for a deck element).
    """

    name: str
    kind: str
    value: float
    lo: float
    hi: float
    node: int | None = None


@dataclass(frozen=True)
class ParametricPencil:
    """The pencil of one topology as an affine function of its variables (module doc).

    Shapes:
        g0, c0: ``[n, n + 1]`` (last column: the input net's); sg, sc: ``[J, n, n + 1]``.
    """

    g0: np.ndarray
    c0: np.ndarray
    sg: np.ndarray
    sc: np.ndarray
    out: int
    variables: tuple[Variable, ...]
    unknowns: tuple[str, ...]

    @property
    def size(self) -> int:
        return self.g0.shape[0]

    def admittances(self, values: np.ndarray) -> np.ndarray:
        """yⱼ of magnitudes ``values`` (1/R for resistors)."""
        inv = np.array([v.kind == "r" for v in self.variables])
        values = np.asarray(values, dtype=float)
        return np.where(inv, 1.0 / values, values)

    def pencil(self, values: np.ndarray) -> Pencil:
        """The pencil with these variable magnitudes."""
        y = self.admittances(values)
        g = self.g0 + np.tensordot(y, self.sg, axes=1)
        c = self.c0 + np.tensordot(y, self.sc, axes=1)
        n = self.size
        return Pencil(
            np.ascontiguousarray(g[:, :n]),
            np.ascontiguousarray(c[:, :n]),
            g[:, n].copy(),
            c[:, n].copy(),
            self.out,
            self.unknowns,
        )


def rounded(x: float, digits: int = SIGNIFICANT) -> float:
    """``x`` to ``digits`` significant digits (sized values as a designer would write them)."""
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits - 1}e}")


def from_circuit(circuit: Circuit) -> ParametricPencil:
    """The parametric pencil of an OCB circuit's testbench (variables: its R, C and gm).

    Raises:
        DAGError, NetlistError: when the circuit has no OCB testbench.
    """
    from .testbench import IN_NET, OUT_NET, build_testbench

    tb = build_testbench(circuit)
    elements, variables, which = [], [], []
    for k, el in enumerate(tb.elements):
        value = el.value
        if el.role in ("r", "c", "gm"):  # a 0 or out-of-range value starts at the range's edge
            lo, hi = VALUE_RANGES[el.role]
            start = min(max(abs(value), lo), hi)
            value = math.copysign(start, value)
            variables.append(Variable(el.name, el.role, start, lo, hi, el.node))
            which.append(k)
        elements.append((el.name[0], el.name.lower(), el.nets, value, False))
    return _parametric(elements, which, variables, IN_NET, OUT_NET)


def from_deck(text: str, in_node: str = "in", out_node: str = "out") -> ParametricPencil:
    """The parametric pencil of a plain deck (variables: its top-level R, C and G values).

    Raises:
        NetlistError: when the deck has no linear model or nothing to size.
    """
    pencil_from_deck(text, in_node, out_node)  # the linear-model checks, with line numbers
    elements = _flatten(text)
    variables, which = [], []
    for k, (kind, name, _, value, _) in enumerate(elements):
        if kind in _KIND and "." not in name and value:
            v = abs(value)
            variables.append(
                Variable(name.upper(), _KIND[kind], v, v / DECK_SPREAD, v * DECK_SPREAD)
            )
            which.append(k)
    if not variables:
        raise NetlistError("the deck has no top-level R, C or G element with a value to size")
    return _parametric(elements, which, variables, in_node.lower(), out_node.lower())


def _parametric(elements, which, variables, in_node: str, out_node: str) -> ParametricPencil:
    """Split the pencil into its fixed part and one unit stamp per variable element."""
    base = pencil_from_elements(elements, in_node, out_node)
    n = len(base.unknowns)
    col = {name: i for i, name in enumerate(base.unknowns)}
    col[in_node] = n
    g_full = np.concatenate([base.g, base.g_in[:, None]], axis=1)
    c_full = np.concatenate([base.c, base.c_in[:, None]], axis=1)
    sg = np.zeros((len(which), n, n + 1))
    sc = np.zeros((len(which), n, n + 1))
    for j, k in enumerate(which):
        kind, _, nets, value, _ = elements[k]
        ia, ib = (None if x in GROUND else col[x] for x in nets[:2])
        if kind in "RC":
            stamp = sg[j] if kind == "R" else sc[j]
            for r, cc, sign in ((ia, ia, 1), (ib, ib, 1), (ia, ib, -1), (ib, ia, -1)):
                if r is not None and cc is not None and r < n:
                    stamp[r, cc] += sign
        else:  # G: current sign·gm·(V(c) − V(d)) leaves a, enters b
            sign = math.copysign(1.0, value)
            for ctrl, sc_sign in ((nets[2], sign), (nets[3], -sign)):
                ic = None if ctrl in GROUND else col[ctrl]
                if ic is None:
                    continue
                if ia is not None and ia < n:
                    sg[j, ia, ic] += sc_sign
                if ib is not None and ib < n:
                    sg[j, ib, ic] -= sc_sign
    values = np.array([v.value for v in variables])
    inv = np.array([v.kind == "r" for v in variables])
    y = np.where(inv, 1.0 / values, values)
    g0 = g_full - np.tensordot(y, sg, axes=1)
    c0 = c_full - np.tensordot(y, sc, axes=1)
    # the variables' own entries cancel to roundoff: clear what is not a fixed element's
    g0[np.abs(g0) < 1e-12 * np.abs(g_full).max()] = 0.0
    c0[np.abs(c0) < 1e-12 * max(np.abs(c_full).max(), 1e-300)] = 0.0
    return ParametricPencil(g0, c0, sg, sc, base.out, tuple(variables), base.unknowns)


def sized_circuit(circuit: Circuit, pp: ParametricPencil, values: np.ndarray) -> Circuit:
    """``circuit`` with its device values replaced (rounded to ``SIGNIFICANT`` digits)."""
    nodes = list(circuit.nodes)
    for var, x in zip(pp.variables, values):
        nd = nodes[var.node]
        nodes[var.node] = Node(**{**nd.to_dict(), var.kind: rounded(float(x))})
    return Circuit(tuple(nodes), circuit.edges, None, circuit.meta)


def sized_deck(text: str, pp: ParametricPencil, values: np.ndarray) -> str:
    """``text`` with each variable element's value replaced (the rest byte for byte).

    Raises:
        NetlistError: when an element's value is not on the element's own line.
    """
    names = {v.name.lower(): rounded(float(x)) for v, x in zip(pp.variables, values)}
    lines = text.splitlines(keepends=True)
    depth, done = 0, set()
    for i, raw in enumerate(lines[1:], start=1):
        words = raw.split()
        if not words:
            continue
        card = words[0].lower()
        if card == ".subckt":
            depth += 1
        elif card == ".ends":
            depth -= 1
        if depth or card not in names or card in done:
            continue
        n_nets = 4 if card[0] == "g" else 2
        value_words = re.split(r"\s[;$]|;", " ".join(words[1 + n_nets :]))[0].split()
        if len(value_words) != 1 or (i + 1 < len(lines) and lines[i + 1].lstrip().startswith("+")):
            raise NetlistError(f"line {i + 1}: cannot rewrite the value of {words[0]} in place")
        sign = "-" if value_words[0].startswith("-") else ""
        new = f"{sign}{names[card]:.{SIGNIFICANT - 1}e}"
        head = re.match(rf"^(\s*(?:\S+\s+){{{1 + n_nets}}})", raw)
        lines[i] = head.group(1) + new + raw[head.end() + len(value_words[0]) :]
        done.add(card)
    missing = set(names) - done
    if missing:
        raise NetlistError(f"cannot find element {sorted(missing)[0].upper()} to rewrite")
    return "".join(lines)
