"""The shipped model: loads safely, matches the cpu preset, generates valid circuits."""

from __future__ import annotations

import torch

from cktgen_eda.generation import generate
from cktgen_eda.model.cktgen import CktGenConfig
from cktgen_eda.model.registry import make_config
from cktgen_eda.training.checkpoint import read_checkpoint, shipped_models


def test_shipped_checkpoint_is_small_safe_and_documented():
    path = shipped_models()["ocb101"]
    assert path.stat().st_size <= 20e6
    state = torch.load(path, weights_only=True)
    assert CktGenConfig.from_dict(state["config"]) == make_config("cktgen", "cpu")
    info = read_checkpoint(path)["info"]
    assert info["dataset"]["name"] == "ocb101" and info["epoch"] == 128
    for key in ("validity", "verified_class_acc", "spec_hit_rate", "recon_acc"):
        assert 0 <= info["metrics"][key] <= 1


def test_shipped_model_generates_valid_circuits_for_a_spec():
    res = generate("gain>=80dB,ugf>=1GHz,pm>=45deg", n=32, seed=1)
    assert sum(c.valid for c in res.candidates) >= 31
    assert all(c.spec_class[0] >= 2 for c in res.candidates)  # only classes that can meet it


def test_the_default_model_records_its_training_and_decode_temperature():
    from cktgen_eda.training.checkpoint import DEFAULT_MODEL

    path = shipped_models()[DEFAULT_MODEL]
    assert path.stat().st_size <= 20e6
    info = read_checkpoint(path)["info"]
    assert info["dataset"]["name"] == "stable101"
    assert info["epoch"] == sum(s["kept_epoch"] for s in info["stages"])
    chosen = info["decode_temperature"]
    selection = info["decode_temperature_selection"]
    target = float(selection["rule"].split(">= ")[1].split()[0])
    rows = {r["temperature"]: r["stable_both_share"] for r in selection["rows"]}
    # the rule as recorded: the highest temperature whose stable share reached the target
    assert chosen == max(t for t, share in rows.items() if share >= target)
    res = generate("gain>=60dB,ugf>=50MHz,pm>=45deg", n=4, seed=0)
    assert res.info["temperature"] == chosen == 0.5
