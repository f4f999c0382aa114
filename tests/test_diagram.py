"""Pictures: the svg/png circuit-diagram exporters, the Bode plot's title and labels, and
the auto-design scatter's axis ranges."""

from __future__ import annotations

import dataclasses
import itertools
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import EXAMPLES, ROOT, random_circuits

from cktgen_eda.circuit import Circuit, load_circuit
from cktgen_eda.cli import cli
from cktgen_eda.netlist.diagram import draw, eng, write_png, write_svg
from cktgen_eda.netlist.layout import layout
from cktgen_eda.plugins import exporters

SVG = "{http://www.w3.org/2000/svg}"
CIRCUITS = random_circuits(60, seed=7)


def _labels(circuit: Circuit, i: int) -> list[str]:
    """The texts a node's box must show: its type name and each device value."""
    nd = circuit.nodes[i]
    out = [nd.name]
    out += [f"R {eng(nd.r, 'Ω')}"] if nd.r is not None else []
    out += [f"C {eng(nd.c, 'F')}"] if nd.c is not None else []
    if nd.gm is not None:
        out.append(f"gm {'−' if nd.kind.gm_sign < 0 else '+'}{eng(nd.gm, 'S')}")
    return out


def test_svg_and_png_are_builtin_exporters():
    table = exporters()
    assert table["svg"].suffix == ".svg" and table["png"].suffix == ".png"
    assert table["svg"].plugin == table["png"].plugin == "cktgen_eda.plugins.diagram"


def test_eng_units():
    assert eng(1.2e6, "Ω") == "1.2 MΩ" and eng(3.4e-3, "S") == "3.4 mS"
    assert eng(5e-14, "F") == "50 fF" and eng(2e-6, "S") == "2 µS"
    assert eng(999.99e3, "Ω") == "1 MΩ" and eng(0.0, "F") == "0 F"


def test_svg_is_byte_deterministic():
    amp = load_circuit(EXAMPLES / "three_stage_nested_miller.json")
    svg = exporters()["svg"].write(amp)
    assert svg == write_svg(Circuit.from_json(amp.to_json()))  # an equal circuit, rebuilt
    assert svg == write_svg(amp)
    assert write_svg(CIRCUITS[0]) != write_svg(CIRCUITS[1])


@pytest.mark.parametrize("k", range(0, 60, 10))
def test_svg_is_valid_xml_with_every_label_and_value(k):
    for circuit in CIRCUITS[k : k + 10]:
        root = ET.fromstring(write_svg(circuit).encode())
        texts = [t.text for t in root.iter(f"{SVG}text")]
        assert root.tag == f"{SVG}svg" and texts
        lay = layout(circuit)
        nodes = [*lay.stages, *(s.node for s in lay.sides)]
        for i in nodes:
            for label in _labels(circuit, i):
                assert any(t.startswith(label) for t in texts), (i, label, texts)
        assert len(root.findall(f"{SVG}rect")) == 1 + len(draw(circuit).boxes)  # + background


def _overlap(a, b, gap=0.0) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _inside(a, b) -> bool:
    return b[0] <= a[0] and b[1] <= a[1] and a[2] <= b[2] and a[3] <= b[3]


def test_nothing_overlaps_on_random_circuits():
    """Boxes and labels never overlap, each label sits in one box or in none, no wire runs
    through a box, and everything is on the page."""
    sides = 0
    for circuit in CIRCUITS:
        d = draw(circuit)
        boxes = [b.bbox() for b in d.boxes]
        texts = [t.bbox() for t in d.texts]
        sides += len(layout(circuit).sides)
        for a, b in itertools.combinations(boxes, 2):
            assert not _overlap(a, b, gap=4), (a, b)
        for a, b in itertools.combinations(texts, 2):
            assert not _overlap(a, b), (a, b)
        for t in texts:
            holders = [b for b in boxes if _overlap(t, b)]
            assert len(holders) <= 1 and all(_inside(t, b) for b in holders), t
            assert _inside(t, (0, 0, d.width, d.height))
        for x1, y1, x2, y2 in d.lines:
            seg = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
            for b in boxes:  # touching an edge is fine, the interior is not
                assert not _overlap(seg, (b[0] + 0.5, b[1] + 0.5, b[2] - 0.5, b[3] - 0.5))
    assert sides > 60  # the sample has side paths on both sides, in several lanes


def test_png_exporter_gives_a_png():
    amp = load_circuit(EXAMPLES / "two_stage_feedback.json")
    data = exporters()["png"].write(amp)
    assert isinstance(data, bytes) and data.startswith(b"\x89PNG\r\n\x1a\n")
    d = draw(amp)
    width, height = (int.from_bytes(data[k : k + 4], "big") for k in (16, 20))
    assert (width, height) == (round(d.width * 1.5), round(d.height * 1.5))  # 150 dpi
    assert data == write_png(amp)


def test_export_and_generate_write_svg(tmp_path):
    out = tmp_path / "amp.svg"
    src = EXAMPLES / "two_stage_miller.json"
    r = CliRunner().invoke(cli, ["export", str(src), "--format", "svg", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text() == write_svg(load_circuit(src))
    r = CliRunner().invoke(cli, ["export", str(src), "-o", str(tmp_path / "amp.png")])
    assert r.exit_code == 0 and (tmp_path / "amp.png").read_bytes().startswith(b"\x89PNG")
    folder = tmp_path / "cands"
    args = ["generate", "--spec", "gain>=60dB", "-n", "2", "--out-dir", str(folder)]
    r = CliRunner().invoke(cli, [*args, "--format", "svg", "--seed", "1"])
    assert r.exit_code == 0, r.output
    files = sorted(folder.glob("candidate_*.svg"))
    assert files and all(ET.parse(f).getroot().tag == f"{SVG}svg" for f in files)
    assert "candidate 00" in files[0].read_text()  # the title names the candidate


# ------------------------------------------------------------------ Bode plot
def _one_pole(ugf_hz: float):
    """A 60 dB single-pole sweep whose UGF is ``ugf_hz``, with its measurement."""
    from cktgen_eda.netlist.measure import measure_opamp

    freq = np.logspace(0, 11, 1101)
    pole = ugf_hz / 1000.0
    h = 1000.0 / (1 + 1j * freq / pole)
    return freq, h, measure_opamp(freq, h, simulator="test")


def test_bode_title_has_engineering_units_and_the_verdict():
    from cktgen_eda.plotting import bode_title

    _, _, m = _one_pole(31.4e9)
    m = dataclasses.replace(m, stable=True, cl_stable=True, pm_loop_deg=m.pm_deg)
    text = bode_title(m, "amp.cir")
    assert "UGF 31.4 GHz" in text and "e+" not in text
    assert "loop PM 90.1° (from −180°)" in text and "stable" in text
    bad = dataclasses.replace(m, stable=False, poles=(complex(3.2e8, 0),))
    assert "UNSTABLE: pole at +320 Mrad/s" in bode_title(bad)


@pytest.mark.parametrize("ugf_hz", [2e3, 31.4e9, 95e9])
def test_bode_labels_stay_inside_the_axes(ugf_hz):
    from cktgen_eda.plotting import bode_figure

    freq, h, m = _one_pole(ugf_hz)
    m = dataclasses.replace(m, stable=True, cl_stable=True, pm_loop_deg=m.pm_deg)
    fig = bode_figure(freq, h, m, "one pole")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax_m, ax_p = fig.axes
    ticks = [t.get_text() for t in ax_p.get_xticklabels()]
    assert "1 kHz" in ticks or "10 kHz" in ticks and "10 GHz" in ticks  # engineering units
    labels = {t.get_text(): (ax, t) for ax in fig.axes for t in ax.texts if t.get_text()}
    assert "−180°" in labels and any(text.startswith("PM 90") for text in labels)
    assert any(text.startswith("UGF ") and text.endswith("Hz") for text in labels)
    for ax, t in labels.values():
        box, frame = t.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, t.get_text()
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1, t.get_text()
    lo, hi = ax_p.get_ylim()
    assert lo < -180 < hi  # the reference the margin is read from is on the plot


# ------------------------------------------------------------------ auto-design scatter
def _rows(pairs, kind="class"):
    return [{"kind": kind, "met": True, "dataset_best_fom": x, "best_fom": y} for x, y in pairs]


@pytest.mark.parametrize(
    "pairs",
    [
        [(274.1, 295.7), (308.8, 353.2), (306.0, 301.0)],  # the ocb101 run: one tight cluster
        [(0.5, 2.0), (40.0, 300.0), (3.0, 3.5)],  # spread over decades: log axes
        [(-2.0, 1.0), (5.0, 4.0)],  # negative FoMs
        [(7.0, 7.0)],  # one point
    ],
)
def test_scatter_limits_show_every_point(pairs, tmp_path):
    from cktgen_eda.evaluation.auto_design import plot

    result = {"dataset": "ocb101", "rows": _rows(pairs) + _rows([(9.0, None)], "random")}
    result["rows"][-1]["met"] = False
    fig = plot(result, tmp_path / "s.png")
    ax = fig.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for x, y in pairs:
        assert x0 < x < x1 and y0 < y < y1
    assert f"n = {len(pairs)} of {len(pairs) + 1}" in ax.get_title()
    assert ax.get_xscale() == ("log" if pairs[1:2] == [(40.0, 300.0)] else "linear")
    assert (tmp_path / "s.png").read_bytes().startswith(b"\x89PNG")


def test_scatter_of_the_benchmark_run(tmp_path):
    from cktgen_eda.evaluation.auto_design import plot

    result = json.loads((ROOT / "benchmarks/results/auto_design_ocb101_full.json").read_text())
    ax = plot(result, tmp_path / "s.png").axes[0]
    pts = np.concatenate([c.get_offsets() for c in ax.collections])
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert len(pts) == len(result["rows"]) and f"n = {len(pts)}" in ax.get_title()
    assert (x0 < pts[:, 0]).all() and (pts[:, 0] < x1).all()
    assert (y0 < pts[:, 1]).all() and (pts[:, 1] < y1).all()
    assert x1 - x0 < 150  # fitted to the points, not 0 to the largest
