"""Recognise an OCB amplifier in a flat device netlist (a KiCad drawing) as a Circuit.

KiCad netlist → **devices → subgraph blocks** → ``recognize`` → Circuit. A drawn schematic has
no subcircuit boundaries, so the blocks are rebuilt from the devices: each VCCS with its own
1 MΩ ∥ 50 fF load is a gm cell from its control net to its output net; nets that are neither
the input, the output nor a gm cell's net must be the middle of one series R–C branch; the
remaining R, C and series R–C branches sit between two stage nets. Blocks are then handed to
``recognize._recognise``, which finds the main path and the side-path positions, as it does
for OCB subcircuit netlists.

Which devices share one subgraph is a choice with no electrical consequence (a Miller C
beside a gm stage is a ``C`` side path or part of a ``C paral gm`` stage). The first choice
tried keeps passives as their own side paths (an R and a C between the same nets pair up as
``R paral C``); only when the OCB positions cannot hold them are passives merged into gm
cells between the same nets, fewest merges first. Every choice gives the same testbench.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from ..circuit import Circuit
from ..errors import CktGenError, NetlistError
from ..subgraphs import GM_LOAD_C_F, GM_LOAD_R_OHM
from .kicad import net_key
from .recognize import Instance, Netlist, Part, Subckt, _recognise
from .testbench import GND

MAX_TRIES = 500  # groupings tried before giving up (there are a handful in practice)
MAX_DEVICES = 100  # an OCB amplifier has at most 6 subgraphs of at most 5 devices each
MAX_CELLS_MERGED = 4  # gm cells between one pair of nets whose merges are tried
_CHOICES = ("", "C", "R", "S", "RC")  # what one gm cell absorbs from its own pair of nets


@dataclass(frozen=True)
class Device:
    """A device of a flat netlist.

    Attributes:
        ref: reference designator.
        kind: ``R``, ``C``, ``G`` (VCCS) or ``V`` (voltage source).
        nets: net keys in model pin order: R/C (a, b); G (out+, out−, ctrl+, ctrl−); V (+, −).
        value: ohms, farads or signed siemens; None for a source.
        line: where it is defined (XML line), for messages.
    """

    ref: str
    kind: str
    nets: tuple[str, ...]
    value: float | None
    line: int


def _natural(dev: Device) -> tuple:
    m = re.fullmatch(r"(\D*)(\d*)(.*)", dev.ref)
    return (m.group(1).upper(), int(m.group(2) or 0), m.group(3)) if m else (dev.ref, 0, "")


def recognise_devices(devices: list[Device], in_net: str, out_net: str, source: str) -> Circuit:
    """Find the OCB subgraph DAG of a flat netlist (see the module docstring).

    Raises:
        NetlistError: naming the device (reference and line) that does not fit.
    """
    in_key, out_key = net_key(in_net), net_key(out_net)
    if len(devices) > MAX_DEVICES:
        raise NetlistError(
            f"{source}: {len(devices)} devices; an OCB amplifier has at most {MAX_DEVICES}"
        )
    devices = sorted(devices, key=_natural)
    sources = [d for d in devices if d.kind == "V"]
    parts = [d for d in devices if d.kind != "V"]
    nets = {n for d in devices for n in d.nets}
    if len(sources) > 1:
        raise NetlistError(
            f"{_where(sources[1], source)}: second voltage source; an OCB amplifier has one"
        )
    for s in sources:
        if s.nets[1] != GND or (in_key in nets and s.nets[0] != in_key):
            raise NetlistError(
                f"{_where(s, source)}: the voltage source must drive the input '{in_key}' "
                f"against ground, found + on '{s.nets[0]}' and - on '{s.nets[1]}'"
            )
    if in_key in nets:
        input_net = in_key
    elif sources:
        input_net = sources[0].nets[0]
    else:
        raise NetlistError(
            f"{source}: no input: label the input net '{in_key}' or drive it with a voltage source"
        )
    if out_key not in nets:
        raise NetlistError(f"{source}: no net labelled '{out_key}' (the amplifier output)")
    gms, loads = _gm_cells(parts, source)
    signal = {input_net, out_key} | {g.nets[0] for g in gms} | {g.nets[2] for g in gms}
    units = _branches([d for d in parts if d.kind != "G" and GND not in d.nets], signal, source)

    by_pair: dict[tuple[str, str], list[Device]] = {}
    for g in gms:
        by_pair.setdefault(_pair(g.nets[2], g.nets[0]), []).append(g)
    line = sources[0].line if sources else 0
    first_error = None
    for k, plan in enumerate(_plans(by_pair, units)):
        if k == MAX_TRIES:
            break
        netlist = _netlist(plan, by_pair, units, loads, input_net, line)
        try:
            return _recognise(netlist, out_key, source)
        except CktGenError as exc:
            first_error = first_error or exc
    if isinstance(first_error, NetlistError):
        raise first_error
    raise NetlistError(f"{source}: {first_error}")


def _where(dev: Device, source: str) -> str:
    return f"{source}: line {dev.line}: {dev.ref}"


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def _gm_cells(parts: list[Device], source: str) -> tuple[list[Device], dict[str, tuple]]:
    """VCCS devices and the (R, C) load each one owns; checks every device to ground."""
    gms, to_ground = [], {}
    for d in parts:
        if d.kind == "G":
            out_p, out_m, c_p, c_m = d.nets
            if out_m != GND or c_m != GND or GND in (out_p, c_p):
                raise NetlistError(
                    f"{_where(d, source)}: a gm cell's VCCS sinks to ground and senses "
                    f"against ground (N-, C- on GND, N+, C+ not), found {' '.join(d.nets)}"
                )
            gms.append(d)
        elif GND in d.nets:
            other = [n for n in d.nets if n != GND]
            if not other:
                raise NetlistError(f"{_where(d, source)}: both pins on ground")
            to_ground.setdefault((other[0], d.kind), []).append(d)
    outputs: dict[str, list[Device]] = {}
    for g in gms:
        outputs.setdefault(g.nets[0], []).append(g)
    for (net, _), ds in to_ground.items():
        if net not in outputs:
            raise NetlistError(
                f"{_where(ds[0], source)}: from '{net}' to ground; only a VCCS output has a "
                "load to ground (1 MOhm || 50 fF per gm cell)"
            )
    loads: dict[str, tuple] = {}
    for net, cells in outputs.items():
        found = {}
        for kind, expected in (("R", GM_LOAD_R_OHM), ("C", GM_LOAD_C_F)):
            ds = to_ground.get((net, kind), [])
            for d in ds:
                if d.value != expected:
                    raise NetlistError(
                        f"{_where(d, source)}: from '{net}' to ground is {d.value:g}; a gm "
                        f"cell's load is {expected:g}"
                    )
            if len(ds) < len(cells):
                raise NetlistError(
                    f"{_where(cells[len(ds)], source)}: drives '{net}' without its own "
                    f"{expected:g} {kind} to ground ({len(cells)} VCCS, {len(ds)} loads)"
                )
            if len(ds) > len(cells):
                raise NetlistError(
                    f"{_where(ds[len(cells)], source)}: one {kind} load per VCCS on '{net}' "
                    f"({len(cells)} VCCS, {len(ds)} loads)"
                )
            found[kind] = ds
        for g, r, c in zip(cells, found["R"], found["C"]):
            loads[g.ref] = (r, c)
    return gms, loads


def _branches(passives: list[Device], signal: set[str], source: str) -> dict:
    """R, C and series R–C branches between stage nets, by pair: ``{pair: {R, C, S: [...]}}``."""
    inner: dict[str, list[Device]] = {}
    for d in passives:
        if d.nets[0] == d.nets[1]:
            raise NetlistError(f"{_where(d, source)}: both pins on net '{d.nets[0]}'")
        for n in d.nets:
            if n not in signal:
                inner.setdefault(n, []).append(d)
    units: dict[tuple[str, str], dict[str, list]] = {}
    in_series = set()
    for x in sorted(inner):
        ds = inner[x]
        if sorted(d.kind for d in ds) != ["C", "R"]:
            refs = ", ".join(d.ref for d in ds)
            raise NetlistError(
                f"{_where(ds[0], source)}: net '{x}' ({refs}) is neither an input, output or "
                "gm-cell net nor the middle of one series R-C branch"
            )
        r, c = sorted(ds, key=lambda d: d.kind, reverse=True)
        ends = [next(n for n in d.nets if n != x) for d in (r, c)]
        for d, end in zip((r, c), ends):
            if end not in signal:
                raise NetlistError(
                    f"{_where(d, source)}: series R-C branch through '{x}' must end on stage "
                    f"nets, found '{end}'"
                )
        if ends[0] == ends[1]:
            raise NetlistError(f"{_where(r, source)}: series R-C loop on net '{ends[0]}'")
        units.setdefault(_pair(*ends), {"R": [], "C": [], "S": []})["S"].append((r, c, x))
        in_series |= {r.ref, c.ref}
    for d in passives:
        if d.ref not in in_series:
            units.setdefault(_pair(*d.nets), {"R": [], "C": [], "S": []})[d.kind].append(d)
    return units


def _plans(by_pair: dict, units: dict):
    """What each gm cell absorbs, per pair of nets: groupings ordered by merges, fewest first."""
    keys = sorted(k for k in by_pair if k in units)
    options = []
    for key in keys:
        have = {kind: len(units[key][kind]) for kind in "RCS"}
        pair_options = []
        n = len(by_pair[key])
        for choice in itertools.product(_CHOICES if n <= MAX_CELLS_MERGED else ("",), repeat=n):
            need = {kind: sum(c.count(kind) for c in choice) for kind in "RCS"}
            if all(need[kind] <= have[kind] for kind in "RCS"):
                pair_options.append((sum(map(len, choice)), choice))
        options.append(sorted(pair_options, key=lambda o: o[0]))
    combos = itertools.islice(itertools.product(*options), 20 * MAX_TRIES)
    ranked = sorted(combos, key=lambda combo: sum(o[0] for o in combo))
    for combo in ranked:
        yield dict(zip(keys, (o[1] for o in combo)))


def _netlist(plan, by_pair, units, loads, input_net: str, line: int) -> Netlist:
    """Blocks of one grouping as the subcircuit instances ``recognize`` reads."""
    netlist = Netlist(sources=[(input_net, GND, line)])

    def add(pin_in: str, pin_out: str, members: list[Device], mid: str | None = None) -> None:
        local = {pin_in: "in", pin_out: "out", GND: "gnd", mid: "mid"}
        name = f"block{len(netlist.instances)}"
        sub = Subckt(name, ("in", "out", "gnd"), min(d.line for d in members))
        for d in members:
            sub.parts.append(Part(d.kind, tuple(local[n] for n in d.nets), d.value, d.line))
        netlist.subckts[name] = sub
        refs = ",".join(d.ref for d in members)
        netlist.instances.append(Instance(refs, name, (pin_in, pin_out, GND), sub.line))

    for key in sorted(set(by_pair) | set(units)):
        pool = {kind: list(v) for kind, v in units.get(key, {"R": [], "C": [], "S": []}).items()}
        for g, choice in zip(by_pair.get(key, []), plan.get(key, ())):
            members, mid = [g, *loads[g.ref]], None
            for kind in choice:
                if kind == "S":
                    r, c, mid = pool["S"].pop(0)
                    members += [r, c]
                else:
                    members.append(pool[kind].pop(0))
            add(g.nets[2], g.nets[0], members, mid)
        for g in by_pair.get(key, [])[len(plan.get(key, ())) :]:
            add(g.nets[2], g.nets[0], [g, *loads[g.ref]])
        for r, c, mid in pool["S"]:
            add(*key, [r, c], mid)
        rs, cs = pool["R"], pool["C"]
        for k in range(max(len(rs), len(cs))):
            add(*key, rs[k : k + 1] + cs[k : k + 1])  # an R and a C side by side: R paral C
    return netlist
