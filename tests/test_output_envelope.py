"""One JSON envelope for `verify`, `generate` and `design` (docs/simulation.md, "Output envelope").

Each command's `--json` is checked for the shared keys, the same measurement keys and units,
`file` as a path or null, and strict JSON numbers (finite or null).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from cktgen_eda.cli import cli
from cktgen_eda.report import ENVELOPE_KEYS, RESULT_KEYS

SPEC = "gain>=60dB,ugf>=50MHz"
EXAMPLES = sorted((ROOT / "examples" / "circuits").glob("*.json"))


def _strict(text: str) -> dict:
    def refuse(name: str):
        raise AssertionError(f"non-finite number {name} in the JSON")

    return json.loads(text, parse_constant=refuse)


def _run(*args) -> dict:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return _strict(r.stdout)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, dict]:
    """The three commands' JSON, the shipped model and the exact engine throughout."""
    tmp = tmp_path_factory.mktemp("envelope")
    fast = ("--engine", "fast")
    return {
        "verify": _run("verify", *EXAMPLES, "--spec", SPEC, *fast, "--json"),
        "generate": _run(
            "generate",
            "--spec",
            SPEC,
            "-n",
            2,
            "--verify",
            *fast,
            "--json",
            "--out-dir",
            tmp / "cands",
        ),  # fmt: skip
        "design": _run(
            "design",
            "--spec",
            SPEC,
            "--budget",
            8,
            "--batch",
            8,
            "--top",
            2,
            "--refine",
            0,
            *fast,
            "--json",
            "--out-dir",
            tmp / "best",
        ),  # fmt: skip
        "generate_unverified": _run("generate", "--spec-class", "2,3,1", "-n", 2, "--json"),
    }


def _measurements(out: dict) -> list[dict]:
    return [r["measurement"] for r in out["results"] if r["measurement"] is not None]


def _numbers(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int | float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    else:
        for v in value:
            yield from _numbers(v)


@pytest.mark.parametrize("command", ["verify", "generate", "design", "generate_unverified"])
def test_every_command_uses_the_envelope(outputs, command):
    out = outputs[command]
    assert list(out)[:3] == list(ENVELOPE_KEYS)
    assert out["spec"] == (None if command == "generate_unverified" else SPEC)
    assert out["engine"] == (None if command == "generate_unverified" else "fast")
    assert out["results"]
    for item in out["results"]:
        assert list(item)[:3] == list(RESULT_KEYS)
        assert item["file"] is None or isinstance(item["file"], str)
        if item["file"] is not None:
            assert Path(item["file"]).is_file(), item["file"]
        m = item["measurement"]
        if m is not None:
            assert m["file"] == item["file"]  # never a label such as "circuit 8"
        assert item["circuit"] is None or {"nodes", "edges"} <= set(item["circuit"])
    assert all(math.isfinite(x) for x in _numbers(out))


def test_measurements_have_the_same_keys_and_units_everywhere(outputs):
    keys = {name: [set(m) for m in _measurements(outputs[name])] for name in outputs}
    reference = keys["verify"][0]
    for name in ("verify", "generate", "design"):
        assert keys[name] and all(k == reference for k in keys[name]), name
    assert outputs["generate_unverified"]["results"][0]["measurement"] is None
    for name in ("verify", "generate", "design"):
        for m in _measurements(outputs[name]):
            if not m["valid"]:
                continue
            # SI base units: Hz, seconds; dB and degrees
            assert 1.0 < m["ugf_hz"] < 1e12 and -500 < m["gain_db"] < 500
            assert -180 < m["pm_deg"] <= 180
            assert m["settling_s"] is None or 0 < m["settling_s"] < 1
            assert m["simulator"] == "fast"


def test_command_extras_name_the_target_and_the_measured_class(outputs):
    for item in outputs["generate"]["results"] + outputs["design"]["results"]:
        assert len(item["target_class"]) == 3
        m = item["measurement"]
        assert m is None or m["spec_class"] is None or len(m["spec_class"]) == 3
    gen, des = outputs["generate"], outputs["design"]
    assert {"model", "classes", "valid", "meets_spec"} <= set(gen)
    assert {"strategy", "samples", "feasible", "pulls", "history"} <= set(des)
    assert all(r["file"] is not None for r in gen["results"] if r["valid"])
    assert all(Path(r["file"]).name == f"design_{k}.json" for k, r in enumerate(des["results"]))
