"""KiCad: schematic and XML netlist writers, the netlist reader, the BOM script and the CLI."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import EXAMPLES, ROOT, random_circuits
from lxml import etree
from nodal import solve_testbench

from cktgen_eda.circuit import Circuit, Node, load_circuit
from cktgen_eda.cli import cli
from cktgen_eda.errors import CktGenError, NetlistError
from cktgen_eda.netlist.kicad import (
    COMMENT_FONT_MM,
    COMMENT_MM,
    annotation,
    format_kicad_number,
    parse_annotation,
    parse_kicad_number,
    read_kicad_netlist,
    write_kicad_netlist,
    write_kicad_sch,
)
from cktgen_eda.netlist.kicad_place import place
from cktgen_eda.netlist.kicad_sheet import problems
from cktgen_eda.netlist.kicad_symbols import GRID_MM, text_width
from cktgen_eda.netlist.layout import layout
from cktgen_eda.netlist.testbench import GND, build_testbench
from cktgen_eda.netlist.units import format_spice_number, parse_spice_number

KICAD_EXAMPLES = ROOT / "examples" / "kicad"
LIB_IDS = {
    "R": "Device:R",
    "C": "Device:C",
    "G": "Simulation_SPICE:GSOURCE",
    "V": "Simulation_SPICE:VDC",
}


# ------------------------------------------------------------------ an independent S-expr reader
class Q(str):
    """A quoted string of the S-expression (bare symbols and numbers stay plain ``str``)."""


_TOKEN = re.compile(r'\(|\)|"(?:[^"\\]|\\.)*"|[^\s()"]+')


def sexp(text: str) -> list:
    """Nested lists of a KiCad S-expression file, written from scratch for these tests."""
    stack: list[list] = [[]]
    for tok in _TOKEN.findall(text):
        if tok == "(":
            stack.append([])
        elif tok == ")":
            done = stack.pop()
            stack[-1].append(done)
        elif tok[0] == '"':
            body = tok[1:-1]
            if "\\" in body:
                body = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), body)
            stack[-1].append(Q(body))
        else:
            stack[-1].append(tok)
    assert len(stack) == 1 and len(stack[0]) == 1, "unbalanced parentheses"
    return stack[0][0]


def from_sexpdata(x):
    """sexpdata's tree in the same shape as ``sexp``'s."""
    import sexpdata

    if isinstance(x, list):
        return [from_sexpdata(v) for v in x]
    if isinstance(x, sexpdata.Symbol):
        return str(x.value())
    if isinstance(x, str):
        return Q(x)
    return repr(x)


def kids(node: list, head: str) -> list[list]:
    return [c for c in node[1:] if isinstance(c, list) and c and c[0] == head]


def one(node: list, head: str) -> list:
    [found] = kids(node, head)
    return found


def point(x, y) -> tuple[float, float]:
    return (round(float(x), 4), round(float(y), 4))


def lib_pins(tree: list) -> dict:
    """Pin ends of the embedded library symbols: lib_id → {pin number: (x, y)}."""
    pins = {}
    for sym in one(tree, "lib_symbols")[1:]:
        ends = {}
        for unit in kids(sym, "symbol"):
            for pin in kids(unit, "pin"):
                at = one(pin, "at")
                ends[one(pin, "number")[1]] = (float(at[1]), float(at[2]))
        pins[sym[1]] = ends
    return pins


def placed_pin(x: float, y: float, px: float, py: float, angle: int, mirror: bool):
    """Sheet point of a library pin (library y up) on a symbol at (x, y), as KiCad turns it:
    ``(mirror y)`` flips left-right, then ``angle`` turns counter-clockwise on the sheet."""
    dx, dy = px, -py
    if mirror:
        dx = -dx
    for _ in range(angle // 90 % 4):
        dx, dy = dy, -dx
    return point(x + dx, y + dy)


class _Nets:
    """Union-find over sheet points."""

    def __init__(self):
        self.parent: dict = {}

    def find(self, a):
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def join(self, a, b):
        self.parent[self.find(a)] = self.find(b)


def _on(p, a, b) -> bool:
    """Point p on the axis-parallel segment a–b (ends included)."""
    (x, y), (x1, y1), (x2, y2) = p, a, b
    if x1 == x2:
        return x == x1 and min(y1, y2) <= y <= max(y1, y2)
    assert y1 == y2, "wires are horizontal or vertical"
    return y == y1 and min(x1, x2) <= x <= max(x1, x2)


def read_schematic(tree: list, pins: dict | None = None) -> dict:
    """Components of a schematic: ref → lib_id, properties, net per pin.

    Connectivity as KiCad finds it: wires join their ends, any connection point (pin end,
    label, wire end, junction) on a wire joins that wire; local labels name their nets,
    ``power:GND`` makes net 0. Every pin end must be on the 1.27 mm grid and on a named net.
    """
    assert tree[0] == "kicad_sch" and one(tree, "version")[1] == "20230121"
    pins = lib_pins(tree) if pins is None else pins
    uf = _Nets()
    names: dict = {}
    wires = [
        (point(*w_[1][1:]), point(*w_[2][1:])) for w_ in (one(w, "pts") for w in kids(tree, "wire"))
    ]
    points = set()
    for a, b in wires:
        uf.join(a, b)
        points |= {a, b}
    for label in kids(tree, "label"):
        at = one(label, "at")
        names.setdefault(point(at[1], at[2]), set()).add(str(label[1]))
    for junction in kids(tree, "junction"):
        at = one(junction, "at")
        p = point(at[1], at[2])
        assert any(_on(p, a, b) for a, b in wires), f"junction at {p} is on no wire"
        points.add(p)
    placed = []
    for sym in kids(tree, "symbol"):
        lib_id = one(sym, "lib_id")[1]
        at = one(sym, "at")
        mirror = [m[1] for m in kids(sym, "mirror")]
        assert mirror in ([], ["y"])
        props = {p[1]: p[2] for p in kids(sym, "property")}
        ends = {
            n: placed_pin(float(at[1]), float(at[2]), px, py, int(at[3]), bool(mirror))
            for n, (px, py) in pins[lib_id].items()
        }
        for end in ends.values():
            assert abs(end[0] / 1.27 - round(end[0] / 1.27)) < 1e-6, "pin end off the grid"
            assert abs(end[1] / 1.27 - round(end[1] / 1.27)) < 1e-6, "pin end off the grid"
            points.add(end)
        if lib_id == "power:GND":
            names.setdefault(ends["1"], set()).add(GND)
        placed.append((lib_id, props, ends))
    points |= set(names)
    by_line: dict = {}  # wires by the x of a vertical one, the y of a horizontal one
    for a, b in wires:
        by_line.setdefault(("x", a[0]) if a[0] == b[0] else ("y", a[1]), []).append((a, b))
    for p in points:
        uf.find(p)
        for a, b in by_line.get(("x", p[0]), []) + by_line.get(("y", p[1]), []):
            if _on(p, a, b):
                uf.join(p, a)
    net_of: dict = {}
    for p, labels in names.items():
        for name in labels:
            root = uf.find(p)
            assert net_of.setdefault(root, name) == name, f"nets {name} and {net_of[root]} short"
    by_name: dict = {}
    for root, name in net_of.items():  # ground is global; every other net is drawn in one piece
        assert by_name.setdefault(name, root) == root or name == GND, f"net {name} is in pieces"
    comps = {}
    for lib_id, props, ends in placed:
        if lib_id.startswith("power:"):
            continue
        pin_nets = {n: net_of.get(uf.find(end)) for n, end in ends.items()}
        assert None not in pin_nets.values(), f"{props['Reference']}: a pin on no named net"
        ref = props["Reference"]
        assert ref not in comps
        comps[ref] = (lib_id, props, pin_nets)
    return comps


def check_schematic(text: str, circuit: Circuit, tree=None, pins=None) -> None:
    """Every testbench element is a symbol with its value and nets; the DAG reads back."""
    tree = sexp(text) if tree is None else tree
    comps = read_schematic(tree, pins)
    tb = build_testbench(circuit)
    assert set(comps) == {"V0"} | {el.name for el in tb.elements}
    lib_id, props, nets = comps["V0"]
    assert lib_id == LIB_IDS["V"] and (nets["1"], nets["2"]) == ("in", GND)
    assert props["Sim.Device"] == "V" and "ac=1" in props["Sim.Params"].split()
    for el in tb.elements:
        lib_id, props, nets = comps[el.name]
        assert lib_id == LIB_IDS[el.name[0]]
        assert tuple(nets[str(k)] for k in range(1, len(el.nets) + 1)) == el.nets
        if el.name[0] == "G":
            assert props["Sim.Device"] == "SPICE" and props["Sim.Pins"] == "1=1 2=2 3=3 4=4"
            m = re.fullmatch(r'type="G" model="([^"]+)"', props["Sim.Params"])
            assert parse_spice_number(m.group(1)) == el.value
        else:
            assert parse_kicad_number(props["Value"]) == el.value
    numbered = sorted((int(c[1]), c[2]) for c in kids(one(tree, "title_block"), "comment"))
    dag = parse_annotation([text for _, text in numbered], "test")
    values = {el.name: el.value for el in tb.elements}
    nodes = []
    for i, nd in enumerate(dag["nodes"]):
        kind = Node(nd["type"], nd["pos"]).kind
        sizes = {s: abs(values[f"{'G' if s == 'gm' else s.upper()}{i}"]) for s in kind.components}
        nodes.append({**nd, **sizes})
    data = {"nodes": nodes, "edges": dag["edges"]}
    data.update({k: dag[k] for k in ("spec", "meta") if k in dag})
    back = Circuit.from_dict(data)
    assert back == circuit and back.meta == circuit.meta
    texts = [t[1] for t in kids(tree, "text")]
    assert ".ac dec 100 1 100G" in texts
    uuids = re.findall(r"\(uuid ([^)]+)\)", text)
    assert len(uuids) == len(set(uuids)) > len(comps)


# ------------------------------------------------------------------ round trips
def test_xml_netlist_round_trip_exact_and_byte_identical_on_1000_circuits():
    for c in random_circuits(1000, seed=21):
        xml = write_kicad_netlist(c)
        assert write_kicad_netlist(c) == xml
        back = read_kicad_netlist(xml)
        assert back == c and back.meta == c.meta  # so it writes the same file again


def _split_libs(text: str) -> tuple[str, str]:
    """(the lib_symbols block, the file without it)."""
    a = text.index("\n  (lib_symbols\n")
    b = text.index("\n  )\n", a) + 4
    return text[a:b], text[:a] + text[b:]


def test_schematic_parses_back_complete_and_byte_identical_on_1000_circuits():
    libs = pins = None
    for c in random_circuits(1000, seed=22):
        text = write_kicad_sch(c)
        assert write_kicad_sch(c) == text
        if libs is None:  # the embedded library is the same in every file: parse it once
            libs, pins = _split_libs(text)[0], lib_pins(sexp(text))
        block, rest = _split_libs(text)
        assert block == libs
        check_schematic(text, c, sexp(rest), pins)


def test_schematic_read_by_sexpdata(two_stage):
    import sexpdata

    for c in [two_stage, *random_circuits(25, seed=23)]:
        text = write_kicad_sch(c, "amp")
        check_schematic(text, c, from_sexpdata(sexpdata.loads(text)))


def test_spec_meta_and_values_round_trip(two_stage):
    c = Circuit(
        two_stage.nodes,
        two_stage.edges,
        spec={"gain_db": 60.5, "ugf_hz": 1.25e8, "pm_deg": 45.0},
        meta={"name": 'amp "1"', "seed": 7, "note": "a\nb"},
    ).validate()
    for text in (write_kicad_netlist(c), write_kicad_sch(c)):
        assert '"1' in text or "&quot;1" in text
    back = read_kicad_netlist(write_kicad_netlist(c))
    assert back == c and back.spec == c.spec and back.meta == c.meta
    check_schematic(write_kicad_sch(c), c)


def test_golden_example_files_are_current(two_stage):
    """examples/kicad holds what to-kicad writes for its two example circuits."""
    sch = (KICAD_EXAMPLES / "two_stage_miller.kicad_sch").read_text(encoding="utf-8")
    xml = (KICAD_EXAMPLES / "two_stage_miller.xml").read_text(encoding="utf-8")
    assert sch == write_kicad_sch(two_stage, "two_stage_miller")
    assert xml == write_kicad_netlist(two_stage, "two_stage_miller")
    three = load_circuit(KICAD_EXAMPLES / "three_stage_feedback.json")
    sch = (KICAD_EXAMPLES / "three_stage_feedback.kicad_sch").read_text(encoding="utf-8")
    assert sch == write_kicad_sch(three, "three_stage_feedback")
    lay = layout(three)  # what its README says it shows
    assert len(lay.stages) == 3 and {s.above for s in lay.sides} == {True, False}


def test_golden_small_example(two_stage):
    comps = read_schematic(sexp(write_kicad_sch(two_stage)))
    table = sorted(
        (ref, lib_id.split(":")[1], props["Value"], tuple(nets.values()))
        for ref, (lib_id, props, nets) in comps.items()
    )
    assert table == [
        ("C2", "C", "500f", ("n1", "out")),
        ("CL1", "C", "50f", ("n1", "0")),
        ("CL3", "C", "50f", ("out", "0")),
        ("G1", "GSOURCE", "1m", ("n1", "0", "in", "0")),
        ("G3", "GSOURCE", "5m", ("out", "0", "n1", "0")),
        ("RL1", "R", "1M", ("n1", "0")),
        ("RL3", "R", "1M", ("out", "0")),
        ("V0", "VDC", "AC 1", ("in", "0")),
    ]
    root = etree.fromstring(write_kicad_netlist(two_stage).encode())
    nets = {
        n.get("name"): sorted(f"{d.get('ref')}.{d.get('pin')}" for d in n.iter("node"))
        for n in root.iter("net")
    }
    assert nets == {
        "/in": ["G1.3", "V0.1"],
        "/n1": ["C2.1", "CL1.1", "G1.1", "G3.3", "RL1.1"],
        "/out": ["C2.2", "CL3.1", "G3.1", "RL3.1"],
        "GND": ["CL1.2", "CL3.2", "G1.2", "G1.4", "G3.2", "G3.4", "RL1.2", "RL3.2", "V0.2"],
    }
    [g1] = root.xpath("//comp[@ref='G1']")
    fields = {f.get("name"): f.text for f in g1.iter("field")}
    assert fields == {
        "Sim.Device": "SPICE",
        "Sim.Params": 'type="G" model="1m"',
        "Sim.Pins": "1=1 2=2 3=3 4=4",
    }


# ------------------------------------------------------------------ the drawing
def test_sheet_keeps_symbols_texts_and_wires_apart_on_1000_circuits():
    """No two symbols, fields, labels or notes overlap, no wire runs through one, and all
    stay inside the frame and off the title block (boxes from the symbol shapes and the
    font metrics; tests/test_kicad_real.py checks them against KiCad's own rendering)."""
    papers = set()
    for c in random_circuits(1000, seed=26):
        sheet = place(c)
        assert problems(sheet.drawing, sheet.size_mm, GRID_MM) == [], c.to_json()
        papers.add(sheet.paper)
    assert papers <= {"A4", "A3"}


def _main_y(sheet) -> int:
    return next(lb.y for lb in sheet.drawing.labels if lb.net == "in")


def test_signal_flows_left_to_right_with_side_paths_above_and_below():
    for c in random_circuits(200, seed=27):
        sheet, lay = place(c), layout(c)
        syms = {s.ref: s for s in sheet.drawing.symbols}
        y0 = _main_y(sheet)
        xs = [syms["V0"].x] + [syms[f"G{i}"].x for i in lay.stages]
        assert xs == sorted(xs) and syms["V0"].x < min(
            s.x for s in syms.values() if s.ref[0] != "#" and s.ref != "V0"
        )
        labels = {lb.net: lb for lb in sheet.drawing.labels if lb.y == y0}
        assert [labels[n].x for n in lay.nets] == sorted(labels[n].x for n in lay.nets)
        assert labels["out"].x == max(w.x2 for w in sheet.drawing.wires if w.y1 == w.y2 == y0)
        for k, i in enumerate(lay.stages, 1):  # the load hangs from the stage's output wire
            g, rl, cl = syms[f"G{i}"], syms[f"RL{i}"], syms[f"CL{i}"]
            assert g.x < rl.x < cl.x < labels[lay.nets[k]].x or k == len(lay.stages)
            assert rl.pins()["1"][1] == cl.pins()["1"][1] == y0
        for side in lay.sides:
            ys = [
                s.y
                for s in syms.values()
                if s.ref[0] != "#" and s.ref[1:].isdigit() and int(s.ref[1:]) == side.node
            ] + [syms[r].y for r in (f"RL{side.node}", f"CL{side.node}") if r in syms]
            assert all((y < y0) == side.above for y in ys), side


def test_gm_cells_are_drawn_input_to_output():
    """A feed-forward gm cell has its control input on the left, a feedback one (mirrored)
    on the right: the side it senses is the side its subgraph's IN net is on."""
    for c in random_circuits(200, seed=28):
        syms = {s.ref: s for s in place(c).drawing.symbols}
        for s in syms.values():
            if s.lib_id.endswith("GSOURCE"):
                pins = s.pins()
                assert (pins["3"][0] > pins["1"][0]) == s.mirror  # C+ right of N+ when mirrored
                assert s.mirror == c.nodes[int(s.ref[1:])].kind.feedback


def test_title_block_comments_fit_the_title_block_and_join_back(two_stage):
    meta = {"description": "x" * 40 + " words that wrap " * 12, "seed": 7, "path": "C:\\a\\"}
    c = Circuit(two_stage.nodes, two_stage.edges, spec={"gain_db": 60.123456789}, meta=meta)
    comments = annotation(c)
    assert 3 < len(comments) <= 9
    assert all(text_width(t, COMMENT_FONT_MM) * GRID_MM <= COMMENT_MM for t in comments)
    assert comments[0].startswith("cktgen-eda dag 1:")  # comment 1, drawn lowest
    back = read_kicad_netlist(write_kicad_netlist(c))
    assert back == c and back.meta == meta and back.spec == c.spec
    check_schematic(write_kicad_sch(c), c)
    huge = Circuit(two_stage.nodes, two_stage.edges, meta={"note": "y" * 3000})
    assert len(annotation(huge)) == 9  # the top comment (not drawn) takes what is left
    assert read_kicad_netlist(write_kicad_netlist(huge)).meta == huge.meta
    single = ["cktgen-eda dag 1: nodes 0:0 6:2 1:1; edges 0-1 1-2", "drawn by me \\"]
    assert parse_annotation(single, "t")["edges"] == [[0, 1], [1, 2]]


def test_negative_gm_and_zero_resistor_are_written_exactly():
    c = Circuit(
        (Node(0, 0), Node(7, 2, gm=1.69e-3), Node(2, 6, r=0.0), Node(1, 1)),
        ((0, 1), (1, 2), (1, 3), (2, 3)),
    ).validate()
    xml = write_kicad_netlist(c)
    assert 'model="-1.69m"' in xml and "<value>0</value>" in xml
    assert read_kicad_netlist(xml) == c


def test_values_edited_in_kicad_read_back(two_stage):
    xml = write_kicad_netlist(two_stage).replace("<value>500f</value>", "<value>0.7pF</value>")
    xml = xml.replace('model="5m"', 'model="7.5m"')
    back = read_kicad_netlist(xml)
    assert sorted(nd.values().get("c", 0) for nd in back.nodes)[-1] == 7e-13
    assert max(nd.gm or 0 for nd in back.nodes) == 7.5e-3


def test_kicad_numbers():
    cases = {
        "1M": 1e6,
        "1Meg": 1e6,
        "1m": 1e-3,
        "4k7": 4700.0,
        "4R7": 4.7,
        "100R": 100.0,
        "10kΩ": 1e4,
        "50fF": 5e-14,
        "382f": 3.82e-13,
        "2.2uF": 2.2e-6,
        "2.2µ": 2.2e-6,
        "-1.5e-3": -1.5e-3,
        " 3 k": 3000.0,
        "0": 0.0,
    }
    for text, value in cases.items():
        assert parse_kicad_number(text) == value, text
    for bad in ("", "abc", "1..2", "4k7.1", "1e999", "k", "1 2", "x" * 100):
        with pytest.raises(NetlistError):
            parse_kicad_number(bad)
    rng = random.Random(4)
    for _ in range(2000):
        x = rng.choice([1e-16, 1e-3, 1.0, 1e5, 1e14]) * rng.random() * 10
        assert parse_kicad_number(format_kicad_number(x)) == x


# ------------------------------------------------------------------ drawn by hand
def hand_drawn(xml: str, rng: random.Random, source: bool = True, in_case: str = "in") -> bytes:
    """Our netlist as if drawn by hand: no DAG comment, new references and net names."""
    root = etree.fromstring(xml.encode())
    for c in root.xpath("//title_block/comment"):
        c.getparent().remove(c)
    comps = root.find("components")
    refs = [c.get("ref") for c in comps]
    numbers = rng.sample(range(1, 999), len(refs))
    new = {r: f"{r[0]}{n}" for r, n in zip(refs, numbers)}
    for el in root.xpath("//comp | //node"):
        el.set("ref", new[el.get("ref")])
    for k, net in enumerate(root.iter("net")):
        name = net.get("name")
        if name == "/in":
            net.set("name", f"/{in_case}")
        elif name not in ("/out", "GND"):
            net.set("name", f"Net-(X{k}-Pad1)")
    if not source:
        for el in root.xpath(f"//comp[@ref='{new['V0']}'] | //node[@ref='{new['V0']}']"):
            el.getparent().remove(el)
    children = list(comps)
    rng.shuffle(children)
    comps[:] = children
    return etree.tostring(root)


def _same_response(a: Circuit, b: Circuit) -> bool:
    f = np.logspace(0, 11, 23)
    return np.allclose(solve_testbench(a, f), solve_testbench(b, f), rtol=1e-7, atol=1e-12)


def test_hand_drawn_netlists_are_recognised_electrically_exact():
    rng = random.Random(5)
    for k, c in enumerate(random_circuits(300, seed=24)):
        drawn = hand_drawn(write_kicad_netlist(c), rng, source=k % 3 != 0, in_case="IN")
        back = read_kicad_netlist(drawn)
        assert back.is_valid() and _same_response(back, c), k


def test_hand_drawn_miller_amp_keeps_its_compensation_capacitor(two_stage):
    back = read_kicad_netlist(hand_drawn(write_kicad_netlist(two_stage), random.Random(1)))
    assert sorted((nd.type, nd.pos) for nd in back.nodes) == [
        (0, 0),
        (1, 1),
        (3, 6),
        (6, 2),
        (6, 3),
    ]
    assert back.meta == {"source": "<netlist>"}


def test_input_from_the_source_when_no_net_is_labelled_in(two_stage):
    drawn = hand_drawn(write_kicad_netlist(two_stage), random.Random(2), in_case="vin")
    assert _same_response(read_kicad_netlist(drawn), two_stage)
    assert _same_response(read_kicad_netlist(drawn, in_net="VIN"), two_stage)
    drawn = hand_drawn(write_kicad_netlist(two_stage), random.Random(2), False, "vin")
    with pytest.raises(NetlistError, match="no input: label the input net 'in'"):
        read_kicad_netlist(drawn)
    assert _same_response(read_kicad_netlist(drawn, in_net="vin"), two_stage)


def test_output_net_option(two_stage):
    drawn = hand_drawn(write_kicad_netlist(two_stage), random.Random(3)).replace(
        b'name="/out"', b'name="/VOUT"'
    )
    with pytest.raises(NetlistError, match="no net labelled 'out'"):
        read_kicad_netlist(drawn)
    assert _same_response(read_kicad_netlist(drawn, out_net="vout"), two_stage)


def _stripped(two_stage) -> str:
    return re.sub(r"<comment [^>]*/>", "", write_kicad_netlist(two_stage))


def _move(xml: str, ref: str, pin: str, net: str) -> str:
    """Reconnect one pin to the net named ``net`` (created when missing)."""
    xml = re.sub(rf'\s*<node ref="{ref}" pin="{pin}"[^>]*/>', "", xml)
    node = f'<node ref="{ref}" pin="{pin}"/>'
    if f'name="{net}">' in xml:
        return xml.replace(f'name="{net}">', f'name="{net}">{node}', 1)
    return xml.replace("</nets>", f'<net code="99" name="{net}">{node}</net></nets>')


def _add(xml: str, ref: str, value: str, *nets: str) -> str:
    """Add a two-pin part (kind from its reference letter) between ``nets``."""
    xml = xml.replace(
        "<components>", f'<components><comp ref="{ref}"><value>{value}</value></comp>'
    )
    for pin, net in enumerate(nets, 1):
        xml = _move(xml, ref, str(pin), net)
    return xml


def _drop(xml: str, ref: str) -> str:
    return re.sub(rf'<comp ref="{ref}">.*?</comp>|<node ref="{ref}"[^>]*/>', "", xml, flags=re.S)


OPAMP = (
    '<comp ref="U1"><value>LM358</value>'
    '<libsource lib="Amplifier_Operational" part="LM358"/></comp>'
)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda x: x.replace("<components>", "<components>" + OPAMP), "U1 (Amplifier_Operational"),
        (lambda x: x.replace('ref="G1" pin="4"', 'ref="G1" pin="9"'), "G1: Sim.Pins"),
        (lambda x: _move(x, "G3", "4", "/in"), "G3: a gm cell's VCCS"),
        (lambda x: x.replace("<value>1M</value>", "<value>2M</value>", 1), "RL1: from 'n1'"),
        (lambda x: _drop(x, "CL3"), "G3: drives 'out' without its own 5e-14 C"),
        (lambda x: _add(x, "R7", "1k", "/out", "GND"), "R7: from 'out' to ground"),
        (lambda x: _move(x, "C2", "2", "/dangling"), "C2: net 'dangling'"),
        (lambda x: _add(x, "R7", "1k", "/n1", "/n1"), "R7: both pins on net 'n1'"),
        (lambda x: _add(x, "V1", "1", "/in", "GND"), "V1: second voltage source"),
        (lambda x: x.replace('ref="C2" pin="1"', 'ref="C9" pin="1"'), "component 'C9'"),
        (lambda x: _drop(_drop(_drop(x, "G1"), "RL1"), "CL1"), "no chain of gain stages"),
        (lambda x: _drop(x, "G1"), "CL1: from 'n1' to ground; only a VCCS output"),
    ],
)
def test_drawn_netlists_that_are_not_ocb_amplifiers_name_the_component(two_stage, edit, message):
    with pytest.raises(NetlistError, match=re.escape(message)) as info:
        read_kicad_netlist(edit(_stripped(two_stage)))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda x: _move(x, "C2", "2", "GND"), "C2 connects n1 0; the annotated circuit needs"),
        (lambda x: x.replace("<value>1M</value>", "<value>1.1M</value>", 1), "RL1: gm load must"),
        (lambda x: x.replace('model="1m"', 'model="-1m"'), "G1: gm has the wrong sign"),
        (lambda x: _drop(x, "G3"), "needs component G3, not found"),
        (lambda x: _add(x, "R9", "1k", "/in", "GND"), "R9 does not belong to the annotated"),
        (lambda x: _move(x, "V0", "1", "/n1"), "V0: the only source is V0 from 'in'"),
        (lambda x: x.replace("nodes 0:0 6:2", "nodes 0:0 26:2"), "subgraph type must be"),
        (lambda x: x.replace("dag 1: nodes", "dag 1: nodez"), "bad or repeated"),
        (lambda x: x.replace("edges 0-1", "edges 1-0"), "points backwards"),
    ],
)
def test_edited_own_netlists_name_the_component(two_stage, edit, message):
    with pytest.raises(NetlistError, match=re.escape(message)) as info:
        read_kicad_netlist(edit(write_kicad_netlist(two_stage)))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "edit",
    [
        lambda x: x.replace('name="GND"', 'name="0"'),
        lambda x: re.sub(
            r"<fields>\s*<field name=\"Sim.Device\">SPICE.*?</fields>", "", x, flags=re.S
        ),
        lambda x: x.replace('<field name="Sim.Device">SPICE', '<field name="Sim.Device">G').replace(
            'type="G" model="', 'gain="'
        ),
        lambda x: x.replace("<value>500f</value>", "<value>0.5pF</value>").replace("/n1", "/N1"),
    ],
)
def test_hand_drawn_variants(two_stage, edit):
    assert _same_response(read_kicad_netlist(edit(_stripped(two_stage))), two_stage)


def test_kicad8_style_fields_and_sim_pins_names(two_stage):
    xml = _stripped(two_stage)
    xml = re.sub(
        r"<fields>\s*<field name=\"Sim.Device\">SPICE</field>\s*"
        r"<field name=\"Sim.Params\">type=\"G\" model=\"(\w+)\"</field>\s*"
        r"<field name=\"Sim.Pins\">1=1 2=2 3=3 4=4</field>\s*</fields>",
        r'<property name="Sim.Device" value="SPICE"/>'
        r'<property name="Sim.Params" value="type=&quot;G&quot; model=&quot;\1&quot;"/>'
        r'<property name="Sim.Pins" value="1=N+ 2=N- 3=C+ 4=C-"/>',
        xml,
    )
    assert xml.count('<property name="Sim.Device"') == 2
    assert _same_response(read_kicad_netlist(xml), two_stage)


# ------------------------------------------------------------------ malformed input
def _mutations(base: bytes, rng: random.Random):
    text = base.decode()
    for _ in range(120):  # truncations
        yield base[: rng.randrange(len(base))]
    for _ in range(150):  # random byte flips
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        yield bytes(data)
    tags = re.findall(r"<(\w+)", text)
    for _ in range(60):  # wrong tags
        tag = rng.choice(tags)
        yield re.sub(rf"<(/?){tag}\b", rf"<\1{tag}x", text, count=rng.randint(1, 3)).encode()
    attrs = re.findall(r' (\w+)="[^"]*"', text)
    for _ in range(80):  # missing attributes
        attr = rng.choice(attrs)
        spans = [m.span() for m in re.finditer(rf' {attr}="[^"]*"', text)]
        a, b = rng.choice(spans)
        yield (text[:a] + text[b:]).encode()
    values = [m.span(1) for m in re.finditer(r"<value>([^<]*)<", text)]
    values += [m.span(1) for m in re.finditer(r"model=&quot;([^&]*)&quot;", text)]
    values += [m.span(1) for m in re.finditer(r'model="([^"]*)"', text)]
    huge = [
        "1e999",
        "-1e999",
        "9" * 400,
        "1e-999",
        "nan",
        "inf",
        "1e309",
        "1" + "0" * 5000,
        "-",
        "",
    ]
    for _ in range(60):  # huge and odd numbers
        a, b = rng.choice(values)
        yield (text[:a] + rng.choice(huge) + text[b:]).encode()
    lines = text.splitlines(keepends=True)
    for _ in range(60):  # lines dropped or duplicated
        k = rng.randrange(len(lines))
        edited = lines[:k] + (lines[k : k + 1] * 2 if rng.random() < 0.5 else []) + lines[k + 1 :]
        yield "".join(edited).encode()
    body = text.split("\n", 1)[1]
    entities = [
        '<!DOCTYPE export [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>',
        '<!DOCTYPE export [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE export [<!ENTITY x SYSTEM "http://127.0.0.1:1/x">]>',
        '<!DOCTYPE export [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>',
        '<!DOCTYPE export SYSTEM "http://127.0.0.1:1/kicad.dtd">',
    ]
    for dtd in entities:
        yield (dtd + body.replace("<value>500f</value>", "<value>&c;&x;</value>")).encode()
        yield (dtd + body).encode()
    for ref in ("&undefined;", "&#0;", "&#xD800;", "&lt;", "<![CDATA[1k]]>"):
        yield text.replace("<value>500f</value>", f"<value>{ref}</value>").encode()
    for junk in ("", " ", "<", "<export/>", "<export version='E'/>", "(kicad_sch)", "\x00" * 9):
        yield junk.encode()
    yield b"<export version='E'>" + b"<x>" * 5000 + b"</x>" * 5000 + b"</export>"
    yield text.replace("<nets>", "<nets>" + "<net code='0' name='/a'/>" * 3).encode()
    yield text.replace('ref="G1"', 'ref="G1" ref2="G1"').replace('pin="1"', 'pin=""').encode()


def test_fuzzed_netlists_raise_only_cktgen_errors(two_stage):
    rng = random.Random(11)
    n = ok = 0
    for base in (write_kicad_netlist(two_stage), _stripped(two_stage)):
        for data in _mutations(base.encode(), rng):
            n += 1
            try:
                read_kicad_netlist(data)
                ok += 1
            except CktGenError as exc:
                assert "\n" not in str(exc), str(exc)
    assert n >= 1000 and ok < n // 2


def test_input_guards(tmp_path):
    with pytest.raises(NetlistError, match="larger than"):
        read_kicad_netlist(b"<export version='E'>" + b" " * (17 * 2**20) + b"</export>")
    sch = tmp_path / "amp.kicad_sch"
    sch.write_text("(kicad_sch (version 20230121))")
    with pytest.raises(NetlistError, match="kicad-cli sch export netlist"):
        read_kicad_netlist(sch)
    with pytest.raises(NetlistError, match="cannot read"):
        read_kicad_netlist(tmp_path / "missing.xml")
    with pytest.raises(NetlistError, match="DOCTYPE"):
        read_kicad_netlist('<!DOCTYPE export><export version="E"/>')
    many = "".join(f'<comp ref="R{k}"><value>1k</value></comp>' for k in range(150))
    nodes = "".join(f'<node ref="R{k}" pin="1"/><node ref="R{k}" pin="2"/>' for k in range(150))
    xml = f'<export version="E"><components>{many}</components><nets><net name="/in">'
    xml += f'{nodes}</net><net name="/out"/></nets></export>'
    with pytest.raises(NetlistError, match="150 devices; an OCB amplifier has at most 100"):
        read_kicad_netlist(xml)


# ------------------------------------------------------------------ plugin, CLI, BOM script
def test_exporters_registered_through_the_plugin_hook(two_stage):
    plugins = pytest.importorskip("cktgen_eda.plugins")
    table = plugins.exporters()
    assert table["kicad"].suffix == ".kicad_sch" and table["kicad-xml"].suffix == ".xml"
    assert table["kicad"].write(two_stage) == write_kicad_sch(two_stage)
    assert table["kicad-xml"].write(two_stage) == write_kicad_netlist(two_stage)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_round_trip_and_overwrite_rules(tmp_path):
    amp = EXAMPLES / "two_stage_miller.json"
    sch, xml, back = tmp_path / "amp.kicad_sch", tmp_path / "amp.xml", tmp_path / "back.json"
    assert run("to-kicad", amp, "-o", sch).exit_code == 0
    assert sch.read_text() == write_kicad_sch(load_circuit(amp), "amp")
    r = run("to-kicad", amp, "-o", sch)
    assert r.exit_code == 1 and "exists; use --force" in r.output
    assert run("to-kicad", amp, "-o", sch, "--force").exit_code == 0
    assert run("to-kicad", amp, "--netlist-xml", "-o", xml).exit_code == 0
    assert run("from-kicad", xml, "-o", back).exit_code == 0
    assert load_circuit(back) == load_circuit(amp)
    assert run("to-kicad", amp).output == write_kicad_sch(load_circuit(amp))
    for cmd in ("to-kicad", "from-kicad"):
        r = run(cmd, "-h")
        assert r.exit_code == 0 and "Example" in r.output


def test_cli_preview_needs_kicad_and_a_known_suffix(tmp_path, monkeypatch):
    amp, sch = EXAMPLES / "two_stage_miller.json", tmp_path / "amp.kicad_sch"
    r = run("to-kicad", amp, "-o", sch, "--preview", tmp_path / "amp.pdf")
    assert r.exit_code == 1 and r.output == "Error: a preview is .svg or .png, not '.pdf'\n"
    monkeypatch.delenv("KICAD_CLI", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    r = run("to-kicad", amp, "-o", sch, "--preview", tmp_path / "amp.svg")
    assert r.exit_code == 1 and r.output.startswith("Error: kicad-cli not found")
    assert len(r.output.splitlines()) == 1 and not sch.exists()  # nothing written


def test_cli_errors_are_one_line(tmp_path):
    sch = tmp_path / "amp.kicad_sch"
    run("to-kicad", EXAMPLES / "two_stage_miller.json", "-o", sch)
    bad = tmp_path / "bad.xml"
    bad.write_text("<export version='E'><components>")
    for path in (sch, bad):
        r = run("from-kicad", path)
        assert r.exit_code == 1 and r.output.startswith("Error: ")
        assert len(r.output.strip().splitlines()) == 1
    assert run("from-kicad").exit_code == 2


def test_bom_script_usage_and_read_errors(tmp_path, capsys):
    from cktgen_eda.plugins.kicad_bom_verify import main, output_path

    assert output_path("/a/amp") == type(output_path("x"))("/a/amp.txt")
    assert output_path("/a/amp.rpt").name == "amp.rpt"
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    capsys.readouterr()
    bad = tmp_path / "bad.xml"
    bad.write_text("<export>")
    assert main([str(bad), str(tmp_path / "report")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kicad_bom_verify: error:")


@pytest.mark.ngspice
def test_bom_script_verifies_with_ngspice(tmp_path, two_stage, capsys):
    from cktgen_eda.netlist.ngspice import verify
    from cktgen_eda.plugins.kicad_bom_verify import main

    expected = verify([two_stage])[0].measurement
    for name, data in (
        ("own.xml", write_kicad_netlist(two_stage).encode()),
        ("drawn.xml", hand_drawn(write_kicad_netlist(two_stage), random.Random(9))),
    ):
        netlist = tmp_path / name
        netlist.write_bytes(data)
        assert main([str(netlist), str(tmp_path / name.replace(".xml", ""))]) == 0
        report = (tmp_path / name.replace(".xml", ".txt")).read_text()
        assert f"gain:      {expected.gain_db:.2f} dB" in report
        assert f"PM:        {expected.pm_deg:.2f} deg" in report
        assert f"FoM:       {expected.fom:.4f}" in report
        assert "class:     gain 2, bw 0, pm 1" in report and "status:    valid" in report
        assert "V0 in 0 DC 0 AC 1" in report and "\n.end\n" in report + "\n"
        assert "kicad_bom_verify: gain 134.0 dB" in capsys.readouterr().out


def kicad_style_deck(xml: str) -> str:
    """The ngspice deck KiCad's simulator builds from the schematic's fields: SI values
    converted to SPICE notation, raw SPICE models verbatim, net names as KiCad names them."""
    root = etree.fromstring(xml.encode())
    pins: dict[str, dict[str, str]] = {}
    for net in root.iter("net"):
        name = "0" if net.get("name") == "GND" else net.get("name")
        for node in net.iter("node"):
            pins.setdefault(node.get("ref"), {})[node.get("pin")] = name
    lines = ["kicad-style deck"]
    for comp in root.iter("comp"):
        ref = comp.get("ref")
        nets = " ".join(pins[ref][p] for p in sorted(pins[ref]))
        fields = {f.get("name"): f.text for f in comp.iter("field")}
        if ref.startswith("V"):
            lines.append(f"{ref} {nets} DC 0 AC 1")
        elif "Sim.Params" in fields:
            model = re.search(r'model="([^"]+)"', fields["Sim.Params"]).group(1)
            lines.append(f"{ref} {nets} {model}")
        else:
            value = format_spice_number(parse_kicad_number(comp.findtext("value")))
            lines.append(f"{ref} {nets} {value}")
    return "\n".join(lines + [".ac dec 100 1 100G", ".end", ""])


@pytest.mark.ngspice
def test_kicad_style_deck_simulates_like_our_deck():
    from cktgen_eda.netlist.ngspice import SimJob, simulate, verify

    circuits = [c for c in random_circuits(40, seed=25) if all(nd.r != 0 for nd in c.nodes)]
    jobs = [SimJob(kicad_style_deck(write_kicad_netlist(c)), "/in", "/out") for c in circuits]
    ours = verify(circuits)
    theirs = simulate(jobs)
    for a, b in zip(ours, theirs):
        assert b.error is None
        ma, mb = a.measurement, b.measurement
        assert ma.valid == mb.valid
        if ma.valid:
            assert mb.gain_db == pytest.approx(ma.gain_db, abs=1e-6)
            assert mb.ugf_hz == pytest.approx(ma.ugf_hz, rel=1e-6)
            assert mb.pm_deg == pytest.approx(ma.pm_deg, abs=1e-4)
