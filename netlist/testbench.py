"""The OCB op-amp testbench (ocb-format.md §4): a Circuit as a list of SPICE elements.

circuit → **testbench** → spice text → ngspice. Every subgraph becomes the elements of its
template between its IN and OUT pins; each gm cell adds its fixed 1 MΩ ∥ 50 fF load at OUT.
Main stages (positions 2–4) own the nets ``n1``, ``n2`` (the last stage drives ``out``); side
subgraphs (positions 5–7) sit between the nets of their DAG neighbours, with IN and OUT
swapped for feedback types; the AC source drives ``in``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..circuit import Circuit
from ..errors import NetlistError
from ..subgraphs import GM_LOAD_C_F, GM_LOAD_R_OHM, MAIN_POSITIONS, OUTPUT, SIDE_POSITIONS

IN_NET, OUT_NET, GND = "in", "out", "0"
SOURCE = "V0"


@dataclass(frozen=True)
class Element:
    """One SPICE element of the testbench.

    Attributes:
        name: SPICE name; its first letter is the element kind (R, C, G).
        nets: terminal nets in SPICE order (G: out+, out−, ctrl+, ctrl−).
        value: SI value (signed for G).
        node: index of the circuit node it belongs to.
        role: ``"r"``, ``"c"``, ``"gm"`` for device values, ``"rl"``/``"cl"`` for gm loads.
    """

    name: str
    nets: tuple[str, ...]
    value: float
    node: int
    role: str


@dataclass(frozen=True)
class Testbench:
    """Nets and elements of one circuit's testbench."""

    circuit: Circuit
    node_nets: tuple[tuple[str, str], ...]  # per node: (IN pin net, OUT pin net)
    elements: tuple[Element, ...]


def main_chain(circuit: Circuit) -> list[int]:
    """Node indices of the main path: input, stages (pos 2–4) in signal order, output.

    Raises:
        NetlistError: when the main vertices do not form one chain from input to output.
    """
    n = len(circuit.nodes)
    is_main = [nd.pos in MAIN_POSITIONS or nd.type in (0, OUTPUT) for nd in circuit.nodes]
    for i, nd in enumerate(circuit.nodes):
        if not is_main[i] and nd.pos not in SIDE_POSITIONS:
            raise NetlistError(f"node {i} has pos {nd.pos}, which the OCB testbench cannot place")
    chain, current = [0], 0
    while current != n - 1:
        nxt = [j for j in circuit.successors(current) if is_main[j]]
        if len(nxt) != 1:
            raise NetlistError(
                f"node {current} ({circuit.nodes[current].name}) has {len(nxt)} main-path "
                "successors; the OCB testbench needs exactly one"
            )
        current = nxt[0]
        chain.append(current)
    missing = [i for i in range(n) if is_main[i] and i not in chain]
    if missing:
        raise NetlistError(f"node {missing[0]} is a main stage but not on the input→output chain")
    if len(chain) < 3:
        raise NetlistError("the main path has no gain stage (pos 2–4) between input and output")
    return chain


def build_testbench(circuit: Circuit) -> Testbench:
    """Lay out the OCB testbench for a valid circuit.

    Raises:
        DAGError: when the circuit breaks the validity rule.
        NetlistError: when it is valid but not an OCB-style amplifier (names the node).
    """
    circuit.validate()
    chain = main_chain(circuit)
    n = len(circuit.nodes)
    out_net: dict[int, str] = {0: IN_NET, n - 1: OUT_NET}
    stages = chain[1:-1]
    for k, i in enumerate(stages, start=1):
        out_net[i] = OUT_NET if k == len(stages) else f"n{k}"

    pins: dict[int, tuple[str, str]] = {}
    for prev, i in zip(chain[1:-1], chain[2:-1]):
        pins[i] = (out_net[prev], out_net[i])
    if stages:
        pins[stages[0]] = (IN_NET, out_net[stages[0]])
    for i, nd in enumerate(circuit.nodes):
        if i in out_net:
            continue
        preds, succs = circuit.predecessors(i), circuit.successors(i)
        if len(preds) != 1 or len(succs) != 1:
            raise NetlistError(
                f"side node {i} ({nd.name}, pos {nd.pos}) has {len(preds)} predecessors and "
                f"{len(succs)} successors; the OCB testbench needs one of each"
            )
        a, b = preds[0], succs[0]
        if a not in out_net or b not in out_net:
            other = a if a not in out_net else b
            raise NetlistError(
                f"side node {i} ({nd.name}) connects to side node {other}; side paths must "
                "join main-path nodes"
            )
        pins[i] = (out_net[b], out_net[a]) if nd.kind.feedback else (out_net[a], out_net[b])

    elements: list[Element] = []
    for i, nd in enumerate(circuit.nodes):
        if i in pins:
            elements.extend(_template(i, nd, *pins[i]))
    node_nets = tuple(pins[i] if i in pins else (out_net[i], out_net[i]) for i in range(n))
    return Testbench(circuit, node_nets, tuple(elements))


def _template(i: int, node, pin_in: str, pin_out: str) -> list[Element]:
    """Elements of one subgraph (ocb-format.md §4.1)."""
    kind = node.kind
    out: list[Element] = []
    if "r" in kind.components or "c" in kind.components:
        if kind.link == "series" and "r" in kind.components and "c" in kind.components:
            # R(IN, x) then C(x, OUT): for type 4 and, beside the gm cell, for 22–25
            mid = f"x{i}"
            out.append(Element(f"R{i}", (pin_in, mid), node.r, i, "r"))
            out.append(Element(f"C{i}", (mid, pin_out), node.c, i, "c"))
        else:
            if node.r is not None:
                out.append(Element(f"R{i}", (pin_in, pin_out), node.r, i, "r"))
            if node.c is not None:
                out.append(Element(f"C{i}", (pin_in, pin_out), node.c, i, "c"))
    if kind.has_gm:
        # SPICE VCCS: current leaves pin_out for V(pin_in) > 0, so +gm inverts (ocb-format §4.1)
        out.append(Element(f"G{i}", (pin_out, GND, pin_in, GND), kind.gm_sign * node.gm, i, "gm"))
        out.append(Element(f"RL{i}", (pin_out, GND), GM_LOAD_R_OHM, i, "rl"))
        out.append(Element(f"CL{i}", (pin_out, GND), GM_LOAD_C_F, i, "cl"))
    return out
