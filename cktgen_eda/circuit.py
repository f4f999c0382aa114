"""Circuit: the sized subgraph DAG every step of the flow passes along (docs/circuit-format.md).

spec → model → **Circuit** → netlist → ngspice → report. A circuit is a list of nodes (OCB
subgraph type, position, device values in SI units) in topological order plus DAG edges.
``Circuit.validate()`` enforces the paper's validity rule and names the offending node or edge.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .errors import DAGError
from .subgraphs import (
    INPUT,
    MAIN_POSITIONS,
    N_POSITIONS,
    OCB_EXPONENT,
    OUTPUT,
    SubgraphType,
    subgraph_type,
)

FORMAT = "cktgen-eda/circuit"
VERSION = 1
SLOTS = ("r", "c", "gm")  # JSON key order of device values
SPEC_KEYS = ("gain_db", "ugf_hz", "pm_deg")
# Bounds on one circuit: OCB circuits have up to a dozen nodes; these leave room for any
# hand-made amplifier while keeping parsing and validation far from memory and time limits.
MAX_NODES = 1000
MAX_EDGES = 10000
_NODE_KEYS = {"type", "pos", "name", *SLOTS}
_TOP_KEYS = {"format", "version", "nodes", "edges", "spec", "meta"}


def _shift(x: float, exponent: int) -> float:
    """x · 10^exponent computed on the shortest decimal text of x (exact for decimal data)."""
    return float(Decimal(repr(float(x))).scaleb(exponent))


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _number(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise DAGError(f"{what} must be a finite number, found {_short(x)}")
    return float(x)


@dataclass(frozen=True)
class Node:
    """One subgraph vertex.

    Attributes:
        type: OCB subgraph type 0–25.
        pos: OCB position 0–7.
        r: resistance in ohms, when the type has a resistor.
        c: capacitance in farads, when the type has a capacitor.
        gm: transconductance magnitude in siemens (the sign comes from the type).
    """

    type: int
    pos: int
    r: float | None = None
    c: float | None = None
    gm: float | None = None

    @property
    def kind(self) -> SubgraphType:
        return subgraph_type(self.type)

    @property
    def name(self) -> str:
        return self.kind.name

    def values(self) -> dict[str, float]:
        """Device values present on this node, keyed ``r``/``c``/``gm`` (SI units)."""
        return {k: getattr(self, k) for k in SLOTS if getattr(self, k) is not None}

    def ocb_values(self) -> tuple[float, ...]:
        """OCB feature values v, in the type's OCB component order (docs/benchmark.md §1.1)."""
        return tuple(_shift(getattr(self, k), -OCB_EXPONENT[k]) for k in self.kind.components)

    @classmethod
    def from_ocb(cls, type: int, pos: int, values: Iterable[float]) -> Node:
        """Build a node from OCB feature values v (R = 0.1·v MΩ, C = 10·v fF, gm = 0.1·v mS)."""
        kind = subgraph_type(type)
        values = tuple(values)
        if len(values) != len(kind.components):
            raise DAGError(
                f"type {type} ({kind.name}) takes {len(kind.components)} OCB values "
                f"{kind.components}, found {len(values)}"
            )
        sizes = {k: _shift(v, OCB_EXPONENT[k]) for k, v in zip(kind.components, values)}
        return cls(type=type, pos=pos, **sizes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "pos": self.pos}
        out.update(self.values())
        return out

    @classmethod
    def from_dict(cls, d: Any, index: int) -> Node:
        where = f"node {index}"
        if not isinstance(d, Mapping):
            raise DAGError(f"{where} must be an object, found {type(d).__name__}")
        unknown = sorted(set(d) - _NODE_KEYS, key=str)
        if unknown:
            raise DAGError(f"{where} has unknown key {_short(unknown[0])}")
        for key in ("type", "pos"):
            if key not in d:
                raise DAGError(f"{where} is missing {key!r}")
            if not _is_int(d[key]):
                raise DAGError(f"{where}: {key!r} must be an integer, found {_short(d[key])}")
        try:
            kind = subgraph_type(d["type"])
        except DAGError as exc:
            raise DAGError(f"{where}: {exc}") from None
        if "name" in d and d["name"] != kind.name:
            raise DAGError(
                f"{where}: name {d['name']!r} does not match type {kind.id} ({kind.name!r})"
            )
        sizes = {}
        for key in SLOTS:
            present = key in d
            if present != (key in kind.components):
                state = "has" if present else "is missing"
                raise DAGError(
                    f"{where} (type {kind.id}, {kind.name}) {state} {key!r}; "
                    f"this type has {list(kind.components) or 'no devices'}"
                )
            if present:
                sizes[key] = _number(d[key], f"{where} {key!r}")
        return cls(type=d["type"], pos=d["pos"], **sizes)


@dataclass(frozen=True)
class Circuit:
    """A sized OCB subgraph DAG (docs/circuit-format.md).

    Attributes:
        nodes: subgraph vertices in topological order; node 0 the input, the last the output.
        edges: DAG edges ``(i, j)`` between node indices.
        spec: optional measured or target performance ``gain_db``, ``ugf_hz``, ``pm_deg``.
        meta: optional free-form provenance (JSON-serialisable).
    """

    nodes: tuple[Node, ...]
    edges: tuple[tuple[int, int], ...]
    spec: Mapping[str, float] | None = None
    meta: Mapping[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "edges", tuple(tuple(e) for e in self.edges))

    # ----------------------------------------------------------------- structure
    def predecessors(self, i: int) -> list[int]:
        return self._adjacency()[0][i]

    def successors(self, i: int) -> list[int]:
        return self._adjacency()[1][i]

    def _adjacency(self) -> tuple[list[list[int]], list[list[int]]]:
        """Predecessor and successor lists of every node, built once (edges in range only)."""
        adj = self.__dict__.get("_adj")
        if adj is None:
            n = len(self.nodes)
            pred: list[list[int]] = [[] for _ in range(n)]
            succ: list[list[int]] = [[] for _ in range(n)]
            for e in self.edges:
                if len(e) == 2 and all(_is_int(x) and 0 <= x < n for x in e):
                    pred[e[1]].append(e[0])
                    succ[e[0]].append(e[1])
            adj = (pred, succ)
            object.__setattr__(self, "_adj", adj)
        return adj

    def validate(self) -> Circuit:
        """Check the format and the paper's validity rule; return self.

        Rules: positions 0–7 and device values ≥ 0; edges in range, unique, no self-loops,
        pointing forward (nodes in topological order, hence acyclic); exactly one input
        (type 0, node 0) and one output (type 1, last node); every node on an input→output
        path; no feedback type on the main path (positions 2–4).

        Raises:
            DAGError: naming the first node or edge that breaks a rule, and why.
        """
        n = len(self.nodes)
        if n < 2:
            raise DAGError(f"a circuit needs at least an input and an output node, found {n}")
        _check_size(n, len(self.edges))
        for i, node in enumerate(self.nodes):
            kind = node.kind
            if not _is_int(node.pos) or not 0 <= node.pos < N_POSITIONS:
                raise DAGError(f"node {i}: pos must be 0–{N_POSITIONS - 1}, found {node.pos!r}")
            for key, value in node.values().items():
                if value < 0:
                    raise DAGError(f"node {i}: {key} must be ≥ 0 (magnitude), found {value!r}")
            if (kind.id == INPUT) != (node.pos == 0) or (kind.id == OUTPUT) != (node.pos == 1):
                raise DAGError(
                    f"node {i}: type {kind.id} ({kind.name}) cannot sit at pos {node.pos}; "
                    "input is type 0 at pos 0 and output type 1 at pos 1"
                )
            if kind.feedback and node.pos in MAIN_POSITIONS:
                raise DAGError(
                    f"node {i}: feedback type {kind.id} ({kind.name}) on the main path "
                    f"(pos {node.pos})"
                )
        seen = set()
        for e in self.edges:
            if len(e) != 2 or not all(_is_int(x) for x in e):
                raise DAGError(f"edge {list(e)!r} must be a pair of node indices")
            a, b = e
            if not (0 <= a < n and 0 <= b < n):
                raise DAGError(f"edge [{a}, {b}] refers to a node outside 0–{n - 1}")
            if a == b:
                raise DAGError(f"edge [{a}, {b}] is a self-loop")
            if a > b:
                raise DAGError(
                    f"edge [{a}, {b}] points backwards: nodes must be in topological order"
                )
            if e in seen:
                raise DAGError(f"edge [{a}, {b}] appears twice")
            seen.add(e)
        inputs = [i for i, nd in enumerate(self.nodes) if nd.type == INPUT]
        outputs = [i for i, nd in enumerate(self.nodes) if nd.type == OUTPUT]
        if inputs != [0]:
            raise DAGError(f"the input (type 0) must be node 0 and unique, found at {inputs}")
        if outputs != [n - 1]:
            raise DAGError(
                f"the output (type 1) must be the last node ({n - 1}) and unique, "
                f"found at {outputs}"
            )
        reach_fwd = self._reach(0, self.successors)
        reach_bwd = self._reach(n - 1, self.predecessors)
        for i in range(n):
            if i not in reach_fwd:
                raise DAGError(f"node {i} ({self.nodes[i].name}) is not reachable from the input")
            if i not in reach_bwd:
                raise DAGError(f"node {i} ({self.nodes[i].name}) does not lead to the output")
        return self

    def is_valid(self) -> bool:
        """True when ``validate()`` passes."""
        try:
            self.validate()
        except DAGError:
            return False
        return True

    @staticmethod
    def _reach(start: int, step) -> set[int]:
        seen, todo = {start}, [start]
        while todo:
            for j in step(todo.pop()):
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
        return seen

    # --------------------------------------------------------------- conversion
    def to_dict(self) -> dict[str, Any]:
        """The docs/circuit-format.md JSON object."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "nodes": [nd.to_dict() for nd in self.nodes],
            "edges": [list(e) for e in self.edges],
        }
        if self.spec is not None:
            out["spec"] = dict(self.spec)
        if self.meta is not None:
            out["meta"] = dict(self.meta)
        return out

    @classmethod
    def from_dict(cls, d: Any, validate: bool = True) -> Circuit:
        """Parse the docs/circuit-format.md JSON object.

        Raises:
            DAGError: on unknown keys, wrong types, missing device values or (with
                ``validate``) a circuit that breaks the validity rule.
        """
        if not isinstance(d, Mapping):
            raise DAGError(f"a circuit must be a JSON object, found {type(d).__name__}")
        unknown = sorted(set(d) - _TOP_KEYS, key=str)
        if unknown:
            raise DAGError(f"unknown key {_short(unknown[0])} in circuit")
        if d.get("format", FORMAT) != FORMAT:
            raise DAGError(f"format must be {FORMAT!r}, found {_short(d.get('format'))}")
        if d.get("version", VERSION) != VERSION:
            raise DAGError(
                f"unsupported circuit version {d.get('version')!r} (this reads {VERSION})"
            )
        for key in ("nodes", "edges"):
            if not isinstance(d.get(key), list):
                raise DAGError(f"circuit {key!r} must be a list, found {_short(d.get(key))}")
        _check_size(len(d["nodes"]), len(d["edges"]))
        nodes = tuple(Node.from_dict(nd, i) for i, nd in enumerate(d["nodes"]))
        edges = []
        for e in d["edges"]:
            if not isinstance(e, list) or len(e) != 2 or not all(_is_int(x) for x in e):
                raise DAGError(f"edge {_short(e)} must be a pair of node indices")
            edges.append((e[0], e[1]))
        spec = d.get("spec")
        if spec is not None:
            if not isinstance(spec, Mapping):
                raise DAGError(f"circuit 'spec' must be an object, found {_short(spec)}")
            bad = sorted(set(spec) - set(SPEC_KEYS), key=str)
            if bad:
                raise DAGError(f"unknown key {bad[0]!r} in circuit spec (known: {SPEC_KEYS})")
            spec = {k: _number(spec[k], f"spec {k!r}") for k in SPEC_KEYS if k in spec}
        meta = d.get("meta")
        if meta is not None and not isinstance(meta, Mapping):
            raise DAGError(f"circuit 'meta' must be an object, found {_short(meta)}")
        circuit = cls(nodes=nodes, edges=tuple(edges), spec=spec, meta=meta)
        return circuit.validate() if validate else circuit

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent) + "\n"

    @classmethod
    def from_json(cls, text: str, validate: bool = True) -> Circuit:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise DAGError(f"not valid JSON: {exc}") from None
        return cls.from_dict(data, validate=validate)

    def save(self, path: str | Path, force: bool = True) -> Path:
        """Write the circuit JSON atomically."""
        from .fileio import atomic_write

        return atomic_write(path, self.to_json(), force=force)

    def to_networkx(self):
        """A ``networkx.DiGraph`` view: node attributes type, name, pos, r, c, gm."""
        import networkx as nx

        g = nx.DiGraph()
        for i, nd in enumerate(self.nodes):
            g.add_node(i, type=nd.type, name=nd.name, pos=nd.pos, **nd.values())
        g.add_edges_from(self.edges)
        return g


def _check_size(n_nodes: int, n_edges: int) -> None:
    if n_nodes > MAX_NODES:
        raise DAGError(f"circuit has {n_nodes} nodes; the limit is {MAX_NODES}")
    if n_edges > MAX_EDGES:
        raise DAGError(f"circuit has {n_edges} edges; the limit is {MAX_EDGES}")


def _short(x: Any) -> str:
    """``repr`` of a value cut to one readable line (hostile files can be huge)."""
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def fifo_topological_order(n: int, edges: Iterable[tuple[int, int]]) -> list[int]:
    """Kahn's algorithm, FIFO queue in ascending vertex id (igraph's order, docs/benchmark.md §2.2).

    Raises:
        DAGError: when the graph has a cycle.
    """
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for a, b in edges:
        succ[a].append(b)
        indeg[b] += 1
    for s in succ:
        s.sort()
    queue = deque(i for i in range(n) if indeg[i] == 0)
    order = []
    while queue:
        v = queue.popleft()
        order.append(v)
        for w in succ[v]:
            indeg[w] -= 1
            if indeg[w] == 0:
                queue.append(w)
    if len(order) != n:
        raise DAGError("the graph has a cycle")
    return order


def from_graph(
    nodes: Iterable[Node],
    edges: Iterable[tuple[int, int]],
    spec: Mapping[str, float] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Circuit:
    """Build a validated Circuit from nodes in any order, renumbered in FIFO topological order."""
    nodes, edges = list(nodes), list(edges)
    order = fifo_topological_order(len(nodes), edges)
    new = {old: k for k, old in enumerate(order)}
    new_edges = sorted((new[a], new[b]) for a, b in edges)
    return Circuit(tuple(nodes[i] for i in order), tuple(new_edges), spec, meta).validate()


def load_circuit(path: str | Path, validate: bool = True) -> Circuit:
    """Read a circuit JSON file.

    Raises:
        DAGError: when the file is not a valid circuit (message names the file).
    """
    path = Path(path)
    from .fileio import read_text

    text = read_text(path, DAGError)
    try:
        return Circuit.from_json(text, validate=validate)
    except DAGError as exc:
        raise DAGError(f"{path}: {exc}") from None
