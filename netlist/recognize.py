"""Recognise an OCB-style subcircuit netlist (one instance per subgraph) as a Circuit.

netlist text → **instances** → Circuit. The original OCB flow wrote each subgraph as a
subcircuit with pins GND, OUT, IN and instantiated it between stage nets (docs/benchmark.md §4,
``shared/data/ocb_spectre_example.scs``). This module reads such netlists in Spectre or
SPICE syntax, classifies each subcircuit by its contents (R/C between IN and OUT, series
R–C through an internal net, a VCCS with its 1 MΩ ∥ 50 fF load), rebuilds the main path by
following gm stages from the source net to the output net, and places the remaining
instances as side paths.

Positions are inferred: a stage and a forward gm side path between the same nets are
electrically identical, so the first instance in file order becomes the stage; the first
passive side path from a stage to the output takes pos 6, the others pos 5 then 7. A type
number in the subcircuit name (``tc_stage_7_0``) is used, after a consistency check, to
tell a feedback cell from a forward one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..circuit import Node, from_graph
from ..errors import CktGenError, NetlistError
from ..subgraphs import GM_LOAD_C_F, GM_LOAD_R_OHM, SUBGRAPH_TYPES


@dataclass(frozen=True)
class Part:
    """A primitive inside a subcircuit: kind R, C or G; nets in the subcircuit's own names."""

    kind: str
    nets: tuple[str, ...]
    value: float
    line: int


@dataclass
class Subckt:
    name: str
    pins: tuple[str, ...]
    line: int
    parts: list[Part] = field(default_factory=list)


@dataclass(frozen=True)
class Instance:
    """A subcircuit placed at top level: ``nets`` bind the subcircuit's pins in order."""

    name: str
    master: str
    nets: tuple[str, ...]
    line: int


@dataclass
class Netlist:
    """Syntax-neutral content of an OCB-style netlist."""

    subckts: dict[str, Subckt] = field(default_factory=dict)
    instances: list[Instance] = field(default_factory=list)
    sources: list[tuple[str, str, int]] = field(default_factory=list)  # (+net, −net, line)


def parse_subckt_netlist(text: str, source: str = "<netlist>", out_net: str = "out"):
    """Read an OCB-style Spectre or SPICE subcircuit netlist into a Circuit.

    Raises:
        NetlistError: naming the line (or subcircuit) and the problem.
    """
    from .spectre import looks_like_spectre, parse_spectre_netlist, parse_spice_netlist

    parse = parse_spectre_netlist if looks_like_spectre(text) else parse_spice_netlist
    netlist = parse(text, source)
    try:
        return _recognise(netlist, out_net.lower(), source)
    except NetlistError:
        raise
    except CktGenError as exc:
        raise NetlistError(f"{source}: {exc}") from None


@dataclass(frozen=True)
class _Block:
    """One instance classified: components found, gm sign, and its IN/OUT nets."""

    inst: Instance
    values: dict
    gm_sign: int
    link: str
    pin_in: str
    pin_out: str
    hint: int | None


def _classify(inst: Instance, sub: Subckt, source: str) -> _Block:
    where = f"{source}: line {inst.line}: {inst.name} ({sub.name})"
    if len(inst.nets) != len(sub.pins):
        raise NetlistError(f"{where}: {len(inst.nets)} nets for {len(sub.pins)} pins")
    roles = dict(zip(sub.pins, inst.nets))
    for pin in ("in", "out"):
        if pin not in roles:
            raise NetlistError(f"{where}: subcircuit needs pins named IN and OUT, has {sub.pins}")
    gnd = {"gnd", "0"}
    values: dict[str, float] = {}
    sign, link = 0, "single"
    loads = set()
    for part in sub.parts:
        a = part.nets
        if part.kind == "G":
            if len(a) != 4 or a[0] != "out" or a[1] not in gnd or a[2] != "in" or a[3] not in gnd:
                raise NetlistError(f"{source}: line {part.line}: VCCS must be (OUT GND IN GND)")
            if "gm" in values:
                raise NetlistError(f"{source}: line {part.line}: second VCCS in {sub.name}")
            values["gm"], sign = abs(part.value), (1 if part.value >= 0 else -1)
        elif set(a) in ({"out", "gnd"}, {"out", "0"}):
            expected = GM_LOAD_R_OHM if part.kind == "R" else GM_LOAD_C_F
            if part.value != expected or part.kind in loads:
                raise NetlistError(
                    f"{source}: line {part.line}: load {part.kind} from OUT to GND must be "
                    f"{expected:g} (one per gm cell), found {part.value:g}"
                )
            loads.add(part.kind)
        else:
            key = part.kind.lower()
            if key in values:
                raise NetlistError(f"{source}: line {part.line}: second {part.kind} in {sub.name}")
            values[key] = part.value
            if set(a) != {"in", "out"}:
                link = "series"
    if ("gm" in values) != (loads == {"R", "C"}):
        raise NetlistError(f"{where}: a gm cell needs exactly its 1 MΩ and 50 fF loads")
    if not values:
        raise NetlistError(f"{where}: subcircuit has no devices")
    if len(values) == 2 and "gm" not in values and link == "single":
        link = "parallel"
    m = re.search(r"_(\d+)_\d+$", sub.name)
    hint = int(m.group(1)) if m and int(m.group(1)) < len(SUBGRAPH_TYPES) else None
    return _Block(inst, values, sign, link, roles["in"], roles["out"], hint)


def _stage_like(block: _Block) -> bool:
    """A plain gm cell, or one with a C in parallel: the OCB main-stage types 6, 7, 10, 11."""
    return set(block.values) <= {"gm", "c"} and block.link != "series"


def _type_of(block: _Block, feedback: bool) -> int:
    comps = set(block.values)
    for t in SUBGRAPH_TYPES[2:]:
        if set(t.components) != comps:
            continue
        if len(comps - {"gm"}) == 2 and (t.link == "series") != (block.link == "series"):
            continue
        if t.has_gm and (t.gm_sign != block.gm_sign or t.feedback != feedback):
            continue
        if block.hint is not None and block.hint != t.id:
            raise NetlistError(
                f"line {block.inst.line}: {block.inst.name}: its name says type {block.hint}, "
                f"its devices make type {t.id} ({t.name})"
            )
        return t.id
    raise NetlistError(f"line {block.inst.line}: {block.inst.name} matches no OCB subgraph type")


def _recognise(netlist: Netlist, out_net: str, source: str):
    if len(netlist.sources) != 1:
        raise NetlistError(f"{source}: need exactly one AC source, found {len(netlist.sources)}")
    in_net = netlist.sources[0][0]
    blocks = []
    for inst in netlist.instances:
        sub = netlist.subckts.get(inst.master)
        if sub is None:
            raise NetlistError(f"{source}: line {inst.line}: unknown subcircuit {inst.master!r}")
        blocks.append(_classify(inst, sub, source))
    nets = {net for b in blocks for net in (b.pin_in, b.pin_out)}
    if out_net not in nets:
        raise NetlistError(f"{source}: output net {out_net!r} not found (nets: {sorted(nets)})")

    def forward_ok(b: _Block) -> bool:
        return b.hint is None or not SUBGRAPH_TYPES[b.hint].feedback

    # Main path: a chain of forward gm blocks from the source net to the output net. Side paths
    # can shortcut it (In→X→Out) or mimic a stage, so take the longest chain, then the one
    # with the most typical stage types, then the earliest in file order.
    chains: list[list[int]] = []

    def extend(chain: list[int], net: str, visited: set[str]) -> None:
        if net == out_net:
            chains.append(chain)
            return
        if len(chain) == 3:
            return
        for k, b in enumerate(blocks):
            if (
                k not in chain
                and "gm" in b.values
                and b.pin_in == net
                and forward_ok(b)
                and b.pin_out not in visited
            ):
                extend(chain + [k], b.pin_out, visited | {b.pin_out})

    extend([], in_net, {in_net})
    if not chains:
        raise NetlistError(
            f"{source}: no chain of gain stages (at most 3) leads from {in_net!r} to {out_net!r}"
        )
    stages = min(chains, key=lambda c: (-len(c), -sum(_stage_like(blocks[k]) for k in c), c))
    used = set(stages)

    # Vertex ids in generator order: 0 In, 1 Out, 2.. stages, then side paths.
    order = {in_net: 0}  # signal order of each net's owner
    tail_of = {in_net: 0}
    for k, s in enumerate(stages):
        tail_of[blocks[s].pin_out] = 2 + k
        order[blocks[s].pin_out] = k + 1
    head_of = dict(tail_of)
    head_of[out_net] = 1
    order[out_net] = len(stages) + 1
    nodes = [Node(0, 0), Node(1, 1)]
    edges = [(0, 2)] + [(2 + k, 3 + k) for k in range(len(stages) - 1)] + [(1 + len(stages), 1)]
    for k, s in enumerate(stages):
        b = blocks[s]
        nodes.append(Node(type=_type_of(b, False), pos=2 + k, **b.values))
    side_pos = [5, 7]
    sides = []
    for k, b in enumerate(blocks):
        if k in used:
            continue
        where = f"{source}: line {b.inst.line}: {b.inst.name}"
        for net in (b.pin_in, b.pin_out):
            if net not in order:
                raise NetlistError(f"{where}: net {net!r} is not on the main path")
        forward = order[b.pin_in] < order[b.pin_out]
        if "gm" not in b.values:  # passive blocks are symmetric: orient them forward
            a_net, b_net = (b.pin_in, b.pin_out) if forward else (b.pin_out, b.pin_in)
            feedback = False
        else:
            feedback = not forward
            if b.hint is not None and SUBGRAPH_TYPES[b.hint].feedback != feedback:
                raise NetlistError(f"{where}: pins contradict type {b.hint} in its name")
            a_net, b_net = (b.pin_out, b.pin_in) if feedback else (b.pin_in, b.pin_out)
        if a_net == b_net:
            raise NetlistError(f"{where}: both pins on net {a_net!r}")
        tail, head = tail_of[a_net], head_of[b_net]
        sides.append((b, feedback, tail, head))
    comp = next((s for s in sides if "gm" not in s[0].values and s[3] == 1 and s[2] >= 2), None)
    if len(sides) > 3 or (len(sides) == 3 and comp is None):
        raise NetlistError(f"{source}: {len(sides)} side paths do not fit OCB positions 5, 6, 7")
    placed = []
    for side in sides:
        placed.append((6 if side is comp else side_pos.pop(0), side))
    for pos, (b, feedback, tail, head) in sorted(placed, key=lambda p: p[0]):
        nodes.append(Node(type=_type_of(b, feedback), pos=pos, **b.values))
        x = len(nodes) - 1
        edges += [(tail, x), (x, head)]
    return from_graph(nodes, edges, meta={"source": Path(source).name})
