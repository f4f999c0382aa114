"""SPICE deck writing/reading, exact units, OCB Spectre import and plain user decks."""

from __future__ import annotations

import pytest
from helpers import EXAMPLES, random_circuits
from spectre_writer import write_spectre

from cktgen_eda.circuit import load_circuit
from cktgen_eda.errors import DAGError, NetlistError
from cktgen_eda.netlist.deck import prepare_deck
from cktgen_eda.netlist.spice import CONTROL, deck_text, parse_spice, read_spice, write_spice
from cktgen_eda.netlist.testbench import build_testbench
from cktgen_eda.netlist.units import (
    format_spice_number,
    parse_spectre_number,
    parse_spice_number,
)


def test_deck_round_trip_lossless_and_byte_identical_on_1000_circuits():
    for c in random_circuits(1000, seed=5):
        deck = write_spice(c)
        assert write_spice(c) == deck
        back = parse_spice(deck)
        assert back == c and back.meta == c.meta
        assert write_spice(back) == deck


def test_golden_deck(two_stage):
    deck = write_spice(two_stage)
    deck, control = deck.split("\n.end\n", 1)  # the ngspice CLI's block follows .end
    assert control == CONTROL and CONTROL.startswith("* ngspice -b runs this block")
    body = [ln for ln in (deck + "\n.end").splitlines() if not ln.startswith("*")]
    assert body == [
        "V0 in 0 DC 0 AC 1",
        "G1 n1 0 in 0 1m",
        "RL1 n1 0 1Meg",
        "CL1 n1 0 50f",
        "C2 n1 out 500f",
        "G3 out 0 n1 0 5m",
        "RL3 out 0 1Meg",
        "CL3 out 0 50f",
        ".ac dec 100 1 100G",
        ".end",
    ]
    assert "M " not in deck and not any(t.endswith("M") for t in deck.split())


def test_feedback_types_swap_pins(spectre_example):
    c = read_spice(spectre_example)
    tb = build_testbench(c)
    fb = next(i for i, nd in enumerate(c.nodes) if nd.type == 9)
    assert tb.node_nets[fb] == ("out", "in")  # IN pin on the output net, OUT on the input


def test_values_with_edits_read_back(two_stage):
    deck = write_spice(two_stage).replace("C2 n1 out 500f", "C2 n1 out 0.7p")
    assert parse_spice(deck).nodes[2].c == 7e-13


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.replace("G3 out 0 n1 0 5m", "G3 out 0 in 0 5m"), "line 18: G3 connects"),
        (lambda d: d.replace("G3 out 0 n1 0 5m", "G3 out 0 n1 0 -5m"), "line 18: .* wrong sign"),
        (lambda d: d.replace("RL1 n1 0 1Meg", "RL1 n1 0 1M"), "line 13: gm load RL1"),
        (lambda d: d.replace("C2 n1 out 500f", "C2 n1 out 5x0f"), "line 16: not a SPICE number"),
        (lambda d: d.replace("C2 n1 out 500f\n", ""), "needs element C2"),
        (lambda d: d.replace("*@cktgen edges", "*@cktgen edgez"), "unknown annotation 'edgez'"),
        (lambda d: d.replace("node 2 type 3", "node 2 type 30"), "line 5: .*type"),
        (lambda d: d + "R9 n1 out 1k\n", "R9 does not belong"),
    ],
)
def test_malformed_decks_name_the_line(two_stage, edit, message):
    with pytest.raises(NetlistError, match=message):
        parse_spice(edit(write_spice(two_stage)))


def test_decks_without_the_control_block_still_read_back():
    """Decks written before the ngspice CLI block (everything up to .end) read back alike."""
    for c in random_circuits(50, seed=6):
        old = deck_text(build_testbench(c))
        assert write_spice(c) == old + CONTROL and parse_spice(old) == c


def test_any_control_block_is_skipped_wherever_it_sits(two_stage):
    """The block is ngspice's, not the circuit's: edited, moved before .end or doubled, it
    reads back to the same circuit (and never runs in our simulations)."""
    deck = write_spice(two_stage)
    evil = ".control\nshell touch /tmp/x\nR9 n1 out 1k\nquit\n.endc\n"
    for text in (
        deck.replace(CONTROL, evil),
        deck.replace(".end\n", evil + ".end\n", 1) + evil,
        deck.replace(".control", ".CONTROL").replace(".endc", ".ENDC"),
    ):
        assert parse_spice(text) == two_stage
    with pytest.raises(NetlistError, match=r"line \d+: .control block without .endc"):
        parse_spice(deck.replace(".endc\n", ""))


def test_units_are_exact_and_meg_not_m():
    assert parse_spice_number("1M") == 1e-3 and parse_spice_number("1Meg") == 1e6
    assert parse_spice_number("382f") == 3.82e-13 and parse_spice_number("4.7kOhm") == 4700.0
    assert parse_spectre_number("1M") == 1e6 and parse_spectre_number("1m") == 1e-3
    assert format_spice_number(1e6) == "1Meg" and format_spice_number(2.8e5) == "280k"
    import random

    rng = random.Random(0)
    for _ in range(5000):
        x = rng.uniform(0, 1) * 10 ** rng.randint(-20, 12)
        assert parse_spice_number(format_spice_number(x)) == x
    with pytest.raises(NetlistError):
        parse_spice_number("abc")


def test_ocb_spectre_example_parses_to_types_and_values(spectre_example):
    c = read_spice(spectre_example)
    got = sorted((nd.type, nd.pos, tuple(sorted(nd.values().items()))) for nd in c.nodes)
    assert got == [
        (0, 0, ()),
        (1, 1, ()),
        (2, 6, (("r", 4e5),)),
        (6, 3, (("gm", 8e-4),)),
        (7, 2, (("gm", 1e-3),)),
        (9, 5, (("gm", 1e-4),)),
    ]
    # main path In → -gm+ → +gm+ → Out; R from stage 1 to Out; -gm- feedback In ← Out
    names = [nd.name for nd in c.nodes]
    assert names[0] == "input" and names[-1] == "output"


def _elements(circuit):
    """Testbench elements by kind, nets and value (internal series nets named alike)."""

    def net(n):
        return "x" if n.startswith("x") else n

    return sorted(
        (e.name[0], tuple(map(net, e.nets)), e.value) for e in build_testbench(circuit).elements
    )


def test_spectre_import_is_electrically_exact_on_random_circuits():
    for c in random_circuits(300, seed=8):
        back = parse_spice(write_spectre(c))
        assert _elements(back) == _elements(c)
        assert sorted(nd.type for nd in back.nodes) == sorted(nd.type for nd in c.nodes)


def test_spice_syntax_subckt_netlist():
    text = """ocb-style amp
.subckt stage1 gnd out in
G0 out gnd in gnd -1m
R0 out gnd 1Meg
C0 out gnd 50f
.ends
.subckt stage2 gnd out in
G0 out gnd in gnd 2m
R0 out gnd 1Meg
C0 out gnd 50f
.ends
.subckt comp in out
C0 in out 300f
.ends
X1 0 n1 vin stage1
X2 0 out n1 stage2
X3 n1 out comp
V0 vin 0 DC 0 AC 1
.end
"""
    c = parse_spice(text)
    # generator indices (S2 before the compensation path), then FIFO topological order
    assert [(nd.type, nd.pos) for nd in c.nodes] == [(0, 0), (7, 2), (6, 3), (3, 6), (1, 1)]
    assert c.nodes[3].c == 3e-13


@pytest.mark.parametrize(
    "text, message",
    [
        ("t\nV0 a 0 AC 1\nR1 a out 1k\n", "R1 outside a .subckt"),
        ("t\n.subckt s in out\nL1 in out 1n\n.ends\n", "L1 is not allowed"),
        (
            "t\n.subckt s gnd out in\nG0 out gnd in gnd 1m\n.ends\nX1 0 out a s\nV0 a 0 AC 1\n",
            "needs exactly its 1 MΩ and 50 fF loads",
        ),
        ("t\n.subckt s in out\nR0 in out 1k\n.ends\nX1 a out s\n", "exactly one AC source"),
        ("t\n.subckt s in out\nR0 in out 1k\n", "has no .ends"),
    ],
)
def test_bad_subckt_netlists(text, message):
    with pytest.raises(NetlistError, match=message):
        parse_spice(text)


def test_invalid_circuit_cannot_be_written(two_stage):
    d = two_stage.to_dict()
    d["edges"].remove([2, 4])
    from cktgen_eda.circuit import Circuit

    with pytest.raises(DAGError):
        write_spice(Circuit.from_dict(d, validate=False))


def test_examples_write(tmp_path):
    for path in EXAMPLES.glob("*.json"):
        assert parse_spice(write_spice(load_circuit(path))) == load_circuit(path)


def test_prepare_user_deck_replaces_analyses():
    deck = prepare_deck(
        "amp\nV1 a 0 DC 0 AC 1\n.subckt st i o\nG1 o 0 i 0 -1m\nR1 o 0 1Meg\n.ends\n"
        "X1 a vout st\nC1 vout 0 1p\n.tran 1n 1u\n.control\nrun\n.endc\n.end\n",
        out_node="vout",
    )
    assert deck.in_node == "a" and deck.out_node == "vout"
    assert ".tran" not in deck.text and ".control" not in deck.text
    assert deck.text.endswith(".ac dec 100 1 100G\n.end\n")


@pytest.mark.parametrize(
    "text, message",
    [
        ("amp\nR1 a out 1k\n", "exactly one AC voltage source"),
        ("amp\nV1 a 0 AC 1\nV2 b 0 AC 1\nR1 a out 1k\n", "line 2, line 3"),
        ("amp\nV1 a 0 AC 1\nQ1 c b e npn\n", "line 3: element Q1 is not supported"),
        ("amp\nV1 a 0 AC 1\nR1 a b 1k\n", "output node 'out' not found"),
        ("amp\nV1 a 0 AC 1\n.include x.lib\nR1 a out 1k\n", "line 3: card .include"),
        ("amp\nV1 a b AC 1\nR1 a out 1k\n", "against ground"),
    ],
)
def test_bad_user_decks(text, message):
    with pytest.raises(NetlistError, match=message):
        prepare_deck(text)


def test_api_from_spice_and_from_kicad_take_a_path_or_text(tmp_path):
    """``ck.from_spice("amp.cir")`` used to parse the file name as a netlist."""
    import cktgen_eda as ck

    amp = ck.load_circuit(EXAMPLES / "two_stage_miller.json")
    deck, sch_xml = tmp_path / "amp.cir", tmp_path / "amp.xml"
    deck.write_text(ck.to_spice(amp))
    from cktgen_eda.netlist.kicad import write_kicad_netlist

    sch_xml.write_text(write_kicad_netlist(amp, "amp"))
    for reader, path in ((ck.from_spice, deck), (ck.from_kicad, sch_xml)):
        assert reader(path) == reader(str(path)) == reader(path.read_text()) == amp
    with pytest.raises(ck.NetlistError, match="no such file"):
        ck.from_spice(str(tmp_path / "missing.cir"))
