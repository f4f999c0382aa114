"""The decoder's sampling temperature: what it does to the decodes, where its default comes
from, and how generate/design/the CLI take it."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from click.testing import CliRunner

from cktgen_eda.cli import cli
from cktgen_eda.errors import CktGenError
from cktgen_eda.generation import decode_temperature, generate
from cktgen_eda.training.checkpoint import load_model


@pytest.fixture(scope="module")
def shipped():
    return load_model("stable101")


def _topologies(decoded) -> list[tuple]:
    return [(d.types, d.paths, d.edges) for d in decoded]


def test_a_cold_decoder_picks_what_greedy_decoding_picks(shipped):
    classes = torch.tensor([[2, 3, 1]] * 48)
    # same seed: the latents are drawn before any token, so both decode the same z
    cold = shipped.generate(classes, torch.Generator().manual_seed(5), temperature=0.02)
    greedy = shipped.generate(classes, torch.Generator().manual_seed(5), greedy=True)
    same = sum(a == b for a, b in zip(_topologies(cold), _topologies(greedy)))
    assert same >= 0.95 * len(classes)


def test_a_lower_temperature_gives_fewer_distinct_topologies(shipped):
    classes = torch.tensor([[2, 3, 1]] * 128)
    distinct = {
        t: len(set(_topologies(shipped.generate(classes, torch.Generator().manual_seed(0), **kw))))
        for t, kw in ((1.0, {}), (0.3, {"temperature": 0.3}))
    }
    assert distinct[0.3] < distinct[1.0]


def test_temperature_one_is_the_untempered_decoder(shipped):
    classes = torch.tensor([[2, 3, 1]] * 16)
    plain = shipped.generate(classes, torch.Generator().manual_seed(1))
    at_one = shipped.generate(classes, torch.Generator().manual_seed(1), temperature=1.0)
    assert plain == at_one


def test_the_default_comes_from_the_model_and_an_explicit_value_wins(tiny_model):
    model, _ = tiny_model
    assert decode_temperature(model) == 1.0
    tuned = copy.deepcopy(model)
    tuned.info = {"decode_temperature": 0.5}
    assert decode_temperature(tuned) == 0.5
    assert generate("gain>=0dB", n=4, model=tuned).info["temperature"] == 0.5
    assert generate("gain>=0dB", n=4, model=tuned, temperature=1.0).info["temperature"] == 1.0
    a = generate("gain>=0dB", n=8, model=tuned, seed=2)
    b = generate("gain>=0dB", n=8, model=model, seed=2, temperature=0.5)
    assert [c.circuit for c in a.candidates] == [c.circuit for c in b.candidates]


@pytest.mark.parametrize("t", [0.0, -1.0, 11.0, float("nan")])
def test_out_of_range_temperatures_are_refused(tiny_model, t):
    model, _ = tiny_model
    with pytest.raises(CktGenError, match="decode temperature"):
        generate("gain>=0dB", n=2, model=model, temperature=t)


def test_a_model_without_a_tempered_decoder_refuses_one():
    class Baseline:
        kind = "pace"
        info: dict = {}

    assert decode_temperature(Baseline()) == 1.0
    with pytest.raises(CktGenError, match="needs a CktGen model, not 'pace'"):
        decode_temperature(Baseline(), 0.5)


def test_cli_generate_and_design_take_and_report_the_temperature(tiny_model):
    _, path = tiny_model
    runner = CliRunner()
    r = runner.invoke(
        cli,
        ["generate", "--spec", "gain>=0dB", "-n", "3", "--model", str(path)]
        + ["--temperature", "0.7", "--json"],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["temperature"] == 0.7
    r = runner.invoke(cli, ["generate", "--spec", "gain>=0dB", "--model", str(path)])
    assert r.exit_code == 0 and "decode temperature" not in r.stdout
    r = runner.invoke(cli, ["generate", "--spec", "gain>=0dB", "--temperature", "0"])
    assert r.exit_code == 2 and "0<x<=10" in r.output
    r = runner.invoke(cli, ["design", "--help"])
    assert "--temperature" in r.output
