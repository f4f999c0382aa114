"""Our schematics in real KiCad (kicad-cli 8+): its netlists, simulator deck, ERC and rendering.

Every test needs kicad-cli and pdftoppm (marker ``kicad``; ``make kicad`` installs both).
KiCad runs once per schematic and export, two at a time, into a folder the tests share: about
one second of kicad-cli per schematic.
"""

from __future__ import annotations

import html
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner
from helpers import EXAMPLES, ROOT, random_circuits

from cktgen_eda.circuit import load_circuit
from cktgen_eda.cli import cli
from cktgen_eda.netlist.kicad import read_kicad_netlist, write_kicad_sch
from cktgen_eda.netlist.kicad_cli import erc, export_netlist, render
from cktgen_eda.netlist.kicad_place import place
from cktgen_eda.netlist.kicad_sheet import (
    FRAME_MM,
    TITLE_BLOCK_MM,
    boxes_of,
    field_box,
    label_box,
    problems,
    text_box,
)
from cktgen_eda.netlist.kicad_symbols import GRID_MM

pytestmark = pytest.mark.kicad

N_CIRCUITS = 50
KICAD_JOBS = 2  # kicad-cli processes at once (the machine has two cores)
DRAWN = {  # the rendering test's circuits: a 2-stage Miller amplifier and a 3-stage one
    "two_stage_miller": EXAMPLES / "two_stage_miller.json",  # with feedback and feed-forward
    "three_stage_feedback": ROOT / "examples" / "kicad" / "three_stage_feedback.json",
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """50 random circuits, their schematics, and per schematic KiCad's XML netlist, SPICE
    netlist (as a .cir path) and ERC errors."""
    folder = tmp_path_factory.mktemp("kicad")
    circuits = random_circuits(N_CIRCUITS, seed=31)
    for k, c in enumerate(circuits):
        (folder / f"amp{k}.kicad_sch").write_text(write_kicad_sch(c, f"amp{k}"), encoding="utf-8")

    def run(k: int):
        sch = folder / f"amp{k}.kicad_sch"
        deck = folder / f"amp{k}.cir"
        deck.write_text(export_netlist(sch, "spice"), encoding="utf-8")
        return export_netlist(sch, "kicadxml"), deck, erc(sch)

    with ThreadPoolExecutor(KICAD_JOBS) as pool:
        return circuits, list(pool.map(run, range(N_CIRCUITS)))


def test_kicad_xml_netlist_reads_back_the_same_circuit(exported):
    circuits, results = exported
    for c, (xml, _, _) in zip(circuits, results):
        back = read_kicad_netlist(xml)
        assert back == c and back.meta == c.meta


def test_erc_finds_no_errors(exported):
    circuits, results = exported
    for k, (_, _, errors) in enumerate(results):
        assert errors == [], (k, [(e["type"], e["description"]) for e in errors])


def _simulated(circuits, decks, engine):
    """(ours, KiCad's) measurements; 0 Ω resistors left out: KiCad's ngspice makes them
    1 mΩ, ours shorts them exactly."""
    keep = [k for k, c in enumerate(circuits) if all(nd.r != 0 for nd in c.nodes)]
    ours = engine([circuits[k] for k in keep])
    theirs = engine([decks[k] for k in keep], out_node="/out")
    return [(a.measurement, b.measurement) for a, b in zip(ours, theirs)]


def _same(a, b, rel: float) -> None:
    assert a.valid == b.valid and a.reason == b.reason
    if a.valid:
        assert b.gain_db == pytest.approx(a.gain_db, rel=rel, abs=1e-9)
        assert b.ugf_hz == pytest.approx(a.ugf_hz, rel=rel)
        assert b.pm_deg == pytest.approx(a.pm_deg, rel=rel, abs=1e-9)


def test_kicad_spice_netlist_measures_like_our_circuit(exported):
    """KiCad's SPICE export of the schematic (its simulator's deck) gives the measurements of
    the circuit JSON, with the exact small-signal engine."""
    from cktgen_eda.netlist.fastac import verify

    circuits, results = exported
    pairs = _simulated(circuits, [deck for _, deck, _ in results], verify)
    assert len(pairs) >= 0.9 * len(circuits)
    for ours, theirs in pairs:
        _same(ours, theirs, 1e-9)
    assert sum(ours.valid for ours, _ in pairs) >= len(pairs) // 2


@pytest.mark.ngspice
def test_kicad_spice_netlist_in_ngspice(exported):
    from cktgen_eda.netlist.ngspice import verify

    circuits, results = exported
    decks = [deck for _, deck, _ in results]
    for ours, theirs in _simulated(circuits[:8], decks[:8], verify):
        _same(ours, theirs, 1e-6)


def test_sheets_of_all_circuits_keep_everything_apart(exported):
    circuits, _ = exported
    for c in circuits:
        sheet = place(c)
        assert problems(sheet.drawing, sheet.size_mm, GRID_MM) == []


# ------------------------------------------------------------------ KiCad's rendering
def svg_texts(svg: str) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Every text KiCad drew (its stroke-font paths) with the box of its strokes, in mm;
    a text plotted twice on the same spot (KiCad does that for fields) counts once."""
    out = []
    for m in re.finditer(r'<g class="stroked-text"><desc>(.*?)</desc>(.*?)</g>', svg, re.S):
        coords = re.findall(r"[-\d.]+", " ".join(re.findall(r'd="([^"]*)"', m.group(2))))
        xs, ys = [float(v) for v in coords[0::2]], [float(v) for v in coords[1::2]]
        if not xs:
            continue  # blank
        out.append((html.unescape(m.group(1)), (min(xs), min(ys), max(xs), max(ys))))
    return sorted(set(out))


def _apart(a, b) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


@pytest.mark.parametrize("name", sorted(DRAWN))
def test_kicad_draws_texts_where_we_placed_them_and_apart(name, tmp_path):
    """KiCad's SVG: each text inside the box we planned for it, no two texts and no text
    and symbol overlapping, the title-block comments inside the border."""
    circuit = load_circuit(DRAWN[name])
    sch = tmp_path / f"{name}.kicad_sch"
    sch.write_text(write_kicad_sch(circuit, name), encoding="utf-8")
    texts = svg_texts(render(sch, ".svg").decode())
    sheet = place(circuit)
    d, (width, height) = sheet.drawing, sheet.size_mm
    planned = [(f.value, field_box(f)) for s in d.symbols for f in s.fields]
    planned += [(lb.net, label_box(lb)) for lb in d.labels]
    planned += [(line, text_box(t)) for t in d.texts for line in t.text.split("\n")]
    symbols = [(s.lib_id, tuple(v * GRID_MM for v in s.box())) for s in d.symbols]
    tb_left, tb_top = width - FRAME_MM - TITLE_BLOCK_MM[0], height - FRAME_MM - TITLE_BLOCK_MM[1]
    ours = []
    for text, box in texts:
        in_frame = box[0] < width - FRAME_MM and box[3] < height - FRAME_MM
        if in_frame and box[0] >= tb_left - 1 and box[1] >= tb_top - 1:
            # the title block's texts: they end inside the border
            assert box[2] <= width - FRAME_MM, text
            continue
        if not (
            FRAME_MM < min(box[:2]) and box[2] < width - FRAME_MM and box[3] < height - FRAME_MM
        ):
            continue  # the frame's column numbers and row letters
        inside = [lib for lib, sb in symbols if not _apart(box, sb)]
        if text in ("V", "+") and inside in (
            ["Simulation_SPICE:GSOURCE"],
            ["Simulation_SPICE:VDC"],
        ):
            continue  # drawn inside the symbol by its library shape
        assert inside == [], (text, inside)
        assert any(  # inside the box we planned for this text
            t == text
            and b[0] * GRID_MM - 0.05 <= box[0]
            and b[1] * GRID_MM - 0.05 <= box[1]
            and box[2] <= b[2] * GRID_MM + 0.05
            and box[3] <= b[3] * GRID_MM + 0.05
            for t, b in planned
        ), (text, box)
        ours.append((text, box))
    assert len(ours) >= len(boxes_of(d.symbols, d.labels, [])) - len(d.symbols)
    for i, (ta, a) in enumerate(ours):
        for tb, b in ours[i + 1 :]:
            assert _apart(a, b), (ta, tb)
    comments = [t for t, b in texts if b[0] >= tb_left - 1 and t.startswith("cktgen-eda dag")]
    assert comments  # the DAG is visible in the title block


def test_cli_preview_writes_svg_and_png(tmp_path):
    amp = EXAMPLES / "two_stage_miller.json"
    runner = CliRunner()
    for suffix, magic in ((".svg", b"<?xml"), (".png", b"\x89PNG")):
        preview = tmp_path / f"amp{suffix}"
        r = runner.invoke(
            cli,
            [
                "to-kicad",
                str(amp),
                "-o",
                str(tmp_path / "amp.kicad_sch"),
                "--force",
                "--preview",
                str(preview),
            ],
        )
        assert r.exit_code == 0, r.output
        assert preview.read_bytes().startswith(magic)
    r = runner.invoke(cli, ["to-kicad", str(amp), "--preview", str(tmp_path / "amp.png")])
    assert r.exit_code == 1 and "exists; use --force" in r.output
