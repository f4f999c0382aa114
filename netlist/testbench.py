"""The OCB op-amp testbench (docs/benchmark.md §4): a Circuit as a list of SPICE elements.

circuit → **testbench** → spice text → ngspice. Every subgraph becomes the elements of its
template between its IN and OUT pins; each gm cell adds its fixed 1 MΩ ∥ 50 fF load at OUT.
Main stages (positions 2–4) own the nets ``n1``, ``n2`` (the last stage drives ``out``); side
subgraphs (positions 5–7) sit between the nets of their DAG neighbours, with IN and OUT
swapped for feedback types; the AC source drives ``in``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..circuit import Circuit
from ..errors import NetlistError
from ..subgraphs import (
    GM_LOAD_C_F,
    GM_LOAD_R_OHM,
    INPUT,
    MAIN_POSITIONS,
    N_POSITIONS,
    N_TYPES,
    OUTPUT,
    SIDE_POSITIONS,
    SUBGRAPH_TYPES,
)

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
    on_chain = set(chain)
    missing = [i for i in range(n) if is_main[i] and i not in on_chain]
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
    """Elements of one subgraph (docs/benchmark.md §4.1)."""
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
        # SPICE VCCS: current leaves pin_out for V(pin_in) > 0: +gm inverts (docs/benchmark.md §4.1)
        out.append(Element(f"G{i}", (pin_out, GND, pin_in, GND), kind.gm_sign * node.gm, i, "gm"))
        out.append(Element(f"RL{i}", (pin_out, GND), GM_LOAD_R_OHM, i, "rl"))
        out.append(Element(f"CL{i}", (pin_out, GND), GM_LOAD_C_F, i, "cl"))
    return out


# ------------------------------------------------------------------ many circuits at once
GND_CODE, IN_CODE, OUT_CODE = -2, -1, 0  # net codes of the array layout; k ≥ 1 is net nk
_R, _C, _G = 0, 1, 2  # element kinds of ``Elements``


def _role_table() -> np.ndarray:
    """``[type, pos]`` → 0 main path, 1 side, 2 side with IN and OUT swapped, −1 not allowed."""
    out = np.full((N_TYPES, N_POSITIONS), -1, dtype=np.int8)
    for kind in SUBGRAPH_TYPES:
        for pos in range(N_POSITIONS):
            if (kind.id == INPUT) != (pos == 0) or (kind.id == OUTPUT) != (pos == 1):
                continue
            if pos in MAIN_POSITIONS:
                out[kind.id, pos] = -1 if kind.feedback else 0
            elif kind.id in (INPUT, OUTPUT):
                out[kind.id, pos] = 0
            elif pos in SIDE_POSITIONS:
                out[kind.id, pos] = 2 if kind.feedback else 1
    return out


def _template_table() -> tuple[np.ndarray, ...]:
    """Per type, ``_template``'s elements as up to 5 slots: kind, nets (terminal roles 0 = IN
    pin, 1 = OUT pin, 2 = the series mid net, 3 = ground) and value (0 r, 1 c, 2 ±gm, 3 the
    load's R, 4 its C). A slot with kind −1 is empty."""
    kind = np.full((N_TYPES, 5), -1, dtype=np.int64)
    nets = np.full((N_TYPES, 5, 4), 3, dtype=np.int64)
    value = np.zeros((N_TYPES, 5), dtype=np.int64)
    for t in SUBGRAPH_TYPES:
        r, c = "r" in t.components, "c" in t.components
        slots = []
        if r and c and t.link == "series":
            slots += [(_R, (0, 2), 0), (_C, (2, 1), 1)]
        else:
            slots += [(_R, (0, 1), 0)] if r else []
            slots += [(_C, (0, 1), 1)] if c else []
        if t.has_gm:
            slots += [(_G, (1, 3, 0, 3), 2), (_R, (1, 3), 3), (_C, (1, 3), 4)]
        for k, (kd, roles, v) in enumerate(slots):
            kind[t.id, k], value[t.id, k] = kd, v
            nets[t.id, k, : len(roles)] = roles
    return kind, nets, value


_ROLES = _role_table()
_SLOT_KIND, _SLOT_NETS, _SLOT_VALUE = _template_table()
_ABSENT = np.array([[k not in t.components for k in ("r", "c", "gm")] for t in SUBGRAPH_TYPES])
_GM_SIGN = np.array([float(t.gm_sign) for t in SUBGRAPH_TYPES])


@dataclass(frozen=True)
class Elements:
    """The testbench elements of many circuits (``elements_many``), in ``build_testbench``
    order within each circuit.

    Attributes:
        ok: which circuits were laid out; ``build_testbench`` says why the others were not.
        circuit: each element's circuit.
        kind: 0 R, 1 C, 2 G.
        nets: terminal net codes in SPICE order (R, C: the last two are ground): −2 ground,
            −1 ``in``, 0 ``out``, k ≥ 1 ``nk``, larger codes the series mid nets.
        value: SI value (signed for G), as ``Element.value``.

    Shapes:
        ok: ``[K]``; circuit, kind, value: ``[E]``; nets: ``[E, 4]``.
    """

    ok: np.ndarray
    circuit: np.ndarray
    kind: np.ndarray
    nets: np.ndarray
    value: np.ndarray


def elements_many(
    types: np.ndarray,
    positions: np.ndarray,
    values: np.ndarray,
    sizes: np.ndarray,
    edges: np.ndarray,
    edge_counts: np.ndarray,
) -> Elements:
    """``build_testbench`` for many circuits at once, as arrays.

    Args:
        types, positions: every node's type and position, circuit after circuit.
        values: its r, c and gm; NaN where the node has no such value.
        sizes: nodes per circuit.
        edges: every edge ``(i, j)`` (node indices within its circuit), circuit after circuit.
        edge_counts: edges per circuit.

    A circuit is laid out only when ``build_testbench`` would accept it with the same
    elements: anything unusual (a rule broken, a value missing, extra, negative or not
    finite) leaves it to ``build_testbench``.

    Shapes:
        types, positions, values: ``[N]``, ``[N]``, ``[N, 3]``; sizes, edge_counts: ``[K]``;
        edges: ``[M, 2]``.
    """
    nodes = _Nodes(types, positions, sizes)
    ok = nodes.valid(values)
    ga, gb, ok = _edges(nodes, edges, edge_counts, ok)
    pins, ok = _pins(nodes, ga, gb, ok)
    return _elements(nodes, pins, values, ok)


@dataclass(frozen=True)
class _Nodes:
    """Every node of a batch: its circuit, its index in it, its type and role."""

    types: np.ndarray
    positions: np.ndarray
    sizes: np.ndarray

    @property
    def count(self) -> int:
        return self.sizes.size

    @functools.cached_property
    def start(self) -> np.ndarray:
        return np.cumsum(self.sizes) - self.sizes

    @functools.cached_property
    def circuit(self) -> np.ndarray:
        return np.repeat(np.arange(self.count), self.sizes)

    @functools.cached_property
    def local(self) -> np.ndarray:
        return np.arange(self.types.size) - self.start[self.circuit]

    @functools.cached_property
    def last(self) -> np.ndarray:
        """Each node: whether it is its circuit's last (the output)."""
        return self.local == self.sizes[self.circuit] - 1

    @functools.cached_property
    def role(self) -> np.ndarray:
        """``_ROLES`` of each node's (type, pos), −1 where not allowed."""
        t, p = self.types, self.positions
        good = (t >= 0) & (t < N_TYPES) & (p >= 0) & (p < N_POSITIONS)
        return np.where(good, _ROLES[np.where(good, t, 0), np.where(good, p, 0)], -1)

    def any(self, flags: np.ndarray) -> np.ndarray:
        """Per circuit: whether any of its nodes is flagged."""
        return _any(flags, self.circuit, self.count)

    def valid(self, values: np.ndarray) -> np.ndarray:
        """Circuits whose nodes pass ``Circuit.validate``'s node rules, with each value the
        type has present, finite and ≥ 0, and no other."""
        t = self.types
        bad = (self.role < 0) | ((t == INPUT) != (self.local == 0)) | ((t == OUTPUT) != self.last)
        absent = np.isnan(values)
        bad |= (absent != _ABSENT[np.where(self.role < 0, 0, t)]).any(axis=1)
        with np.errstate(invalid="ignore"):
            bad |= (~absent & ~(np.isfinite(values) & (values >= 0))).any(axis=1)
        return (self.sizes >= 3) & ~self.any(bad)


def _edges(nodes: _Nodes, edges: np.ndarray, counts: np.ndarray, ok: np.ndarray):
    """The edges of the circuits still ok, as global node indices (``a → b``), and ``ok``
    less the circuits with a bad edge (out of range, backwards, twice) or a node that the
    input does not reach or that does not reach the output."""
    ecirc = np.repeat(np.arange(nodes.count), counts)
    ea, eb = edges[:, 0], edges[:, 1]
    bad = (ea < 0) | (ea >= eb) | (eb >= nodes.sizes[ecirc])
    wide = int(nodes.sizes.max(initial=0)) + 1
    key = (ecirc * wide + ea) * wide + eb
    order = np.argsort(key, kind="stable")
    bad[order[1:]] |= key[order[1:]] == key[order[:-1]]  # the same edge twice
    ok = ok & ~_any(bad, ecirc, nodes.count)
    use = ok[ecirc]
    ga, gb = (nodes.start[ecirc] + ea)[use], (nodes.start[ecirc] + eb)[use]
    last = nodes.start + nodes.sizes - 1
    n = nodes.types.size
    reached = _reach(nodes.start[ok], ga, gb, n) & _reach(last[ok], gb, ga, n)
    return ga, gb, ok & ~nodes.any(~reached)


def _pins(nodes: _Nodes, ga: np.ndarray, gb: np.ndarray, ok: np.ndarray):
    """Each node's (IN, OUT) net codes as ``build_testbench`` lays them out, and ``ok`` less
    the circuits it would refuse (main path not one chain, side nodes not between two
    main nodes)."""
    n = nodes.types.size
    main = nodes.role == 0
    me = main[ga] & main[gb]
    ma, mb = ga[me], gb[me]
    ok = ok & ~nodes.any(main & (np.bincount(ma, minlength=n) != 1) & ~nodes.last)
    rank = np.full(n, -1)  # place on the chain from the input
    rank[nodes.start[ok]] = 0
    while True:
        step = (rank[ma] >= 0) & (rank[mb] < 0)
        if not step.any():
            break
        rank[mb[step]] = rank[ma[step]] + 1
    ok &= ~nodes.any(main & (rank < 0))
    stages = np.bincount(nodes.circuit, weights=main, minlength=nodes.count).astype(int) - 2
    ok &= stages >= 1
    out_code = np.where(rank == 0, IN_CODE, np.where(rank >= stages[nodes.circuit], OUT_CODE, rank))
    # side subgraphs: one predecessor and one successor, both on the main path
    pred, succ = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    pred[gb], succ[ga] = ga, gb
    one_each = (np.bincount(gb, minlength=n) == 1) & (np.bincount(ga, minlength=n) == 1)
    ok &= ~nodes.any((nodes.role > 0) & ~(one_each & main[pred] & main[succ]))
    pins = np.stack([out_code[pred], out_code[succ]], axis=1)
    pins = np.where((nodes.role == 2)[:, None], pins[:, ::-1], pins)
    pins[main, 0] = np.where(rank == 1, IN_CODE, rank - 1)[main]
    pins[main, 1] = out_code[main]
    return pins, ok


def _elements(nodes: _Nodes, pins: np.ndarray, values: np.ndarray, ok: np.ndarray) -> Elements:
    """The elements of each laid-out node's template, in ``_template``'s order."""
    node = np.flatnonzero(ok[nodes.circuit] & (nodes.local > 0) & ~nodes.last)
    t = nodes.types[node]
    slot = (_SLOT_KIND[t] >= 0).ravel()  # [T·5]
    of = np.repeat(np.arange(node.size), 5)[slot]
    tt = t[of]
    k = np.tile(np.arange(5), node.size)[slot]
    mid = int(nodes.sizes.max(initial=0)) + 1 + nodes.local[node]  # the series mid nets
    nets4 = np.concatenate([pins[node], mid[:, None], np.full((node.size, 1), GND_CODE)], axis=1)
    v = values[node[of]]
    table = np.stack(
        [
            v[:, 0],
            v[:, 1],
            _GM_SIGN[tt] * v[:, 2],
            np.full(of.size, GM_LOAD_R_OHM),
            np.full(of.size, GM_LOAD_C_F),
        ],
        axis=1,
    )
    return Elements(
        ok,
        nodes.circuit[node][of],
        _SLOT_KIND[tt, k],
        nets4.ravel()[of[:, None] * 4 + _SLOT_NETS[tt, k]],
        table[np.arange(of.size), _SLOT_VALUE[tt, k]],
    )


def _any(flags: np.ndarray, owner: np.ndarray, k: int) -> np.ndarray:
    """Per owner: whether any of its flags is set."""
    return np.bincount(owner[flags], minlength=k) > 0


def _reach(seeds: np.ndarray, src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    """Nodes reachable from ``seeds`` along the edges ``src → dst``."""
    seen = np.zeros(n, dtype=bool)
    seen[seeds] = True
    while True:
        new = dst[seen[src] & ~seen[dst]]
        if new.size == 0:
            return seen
        seen[new] = True
