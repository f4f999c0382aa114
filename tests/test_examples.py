"""The example scripts run on the public API."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import ROOT


@pytest.mark.ngspice
def test_roundtrip_and_verify_example():
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "roundtrip_and_verify.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3 and all("meets spec: True" in ln for ln in lines)


@pytest.mark.ngspice
def test_unguarded_script_can_verify(tmp_path):
    """Workers never re-run the caller's script, so no ``__main__`` guard is needed."""
    script = tmp_path / "quick.py"
    script.write_text(
        "import cktgen_eda as ck\n"
        f"amp = ck.load_circuit({str(ROOT / 'examples/circuits/two_stage_miller.json')!r})\n"
        "print(round(ck.verify([amp])[0].measurement.gain_db, 1))\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "134.0"


@pytest.mark.ngspice
def test_generate_and_verify_example(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "generate_and_verify.py"),
            "gain>=80dB,ugf>=1GHz,pm>=45deg",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 9 and sum("meets spec: True" in ln for ln in lines) >= 1
    passing = list(tmp_path.glob("amp_*.json"))
    assert passing and all(ck_load(p).nodes[0].type == 0 for p in passing)
    assert len(list(tmp_path.glob("amp_*.cir"))) == len(passing)


def ck_load(path):
    from cktgen_eda import load_circuit

    return load_circuit(path)


def test_kicad_walkthrough_files_are_current(tmp_path):
    """examples/kicad/ holds exactly what the commands of its README produce."""
    import cktgen_eda as ck

    amp = ck.load_circuit(ROOT / "examples" / "circuits" / "two_stage_miller.json")
    kicad = ROOT / "examples" / "kicad"
    assert (kicad / "two_stage_miller.kicad_sch").read_text() == ck.to_kicad(
        amp, project="two_stage_miller"
    )
    back = ck.from_kicad(kicad / "two_stage_miller.xml")
    assert back.nodes == amp.nodes and back.edges == amp.edges
