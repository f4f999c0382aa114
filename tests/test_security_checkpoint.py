"""Hostile checkpoints: malformed, oversized, corrupted files; failed runs leave no folder."""

from __future__ import annotations

import re
import struct
import zipfile
from dataclasses import fields

import pytest
import torch
from click.testing import CliRunner
from helpers import small_bench

from cktgen_eda.cli import cli
from cktgen_eda.data.dataset import clean, split_key
from cktgen_eda.data.store import write_benchmark
from cktgen_eda.errors import CktGenError
from cktgen_eda.model.cktgen import CktGen
from cktgen_eda.model.evaluator import PRESETS as EV_PRESETS
from cktgen_eda.model.evaluator import Evaluator, EvaluatorConfig
from cktgen_eda.model.registry import KINDS, _parts, make_config
from cktgen_eda.training.checkpoint import (
    load_evaluator,
    load_model,
    save_checkpoint,
    shipped_evaluators,
    shipped_models,
)

HUGE = 2**40  # would need terabytes: the allocation must never be tried


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny CktGen checkpoint, a tiny evaluator checkpoint and a small benchmark file."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ckpt")
    bench = small_bench()
    scheme = clean(bench).scheme
    model = save_checkpoint(
        folder / "m.pt", CktGen(make_config("cktgen", "tiny"), scheme), {"epoch": 1}
    )
    ev = save_checkpoint(folder / "ev.pt", Evaluator(make_config("evaluator", "tiny"), scheme), {})
    target = ",".join(map(str, split_key(scheme.train_keys[0])))  # one of its classes
    return model, ev, write_benchmark(bench, folder / "small.npz"), target


def run(*args):
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output, r.output
    return r


def tamper(src, dst, edit):
    """Copy checkpoint ``src`` to ``dst`` after ``edit(state)``, without a content hash.

    Files without a hash load (older runs), so the checks after the hash are reached.
    """
    state = torch.load(src, weights_only=True)
    state.pop("sha256", None)
    edit(state)
    torch.save(state, dst)
    return dst


def first_weight(state):
    """A matrix that generation uses (not the circuit encoder's)."""
    weights = state["model"].items()
    return next(k for k, v in weights if v.ndim == 2 and not k.startswith("circuit_encoder"))


def set_weight(key_of, value_of):
    def edit(state):
        key = key_of(state)
        state["model"][key] = value_of(state["model"][key])

    return edit


def set_config(**fields):
    return lambda state: state["config"].update(fields)


def set_key(key, value):
    return lambda state: state.__setitem__(key, value)


def nan_at_first(w):
    w = w.clone()
    w.view(-1)[0] = float("nan")
    return w


def inf_at_first(w):
    w = w.clone()
    w.view(-1)[0] = float("inf")
    return w


MALFORMED = [
    # (1a) the config, scheme or weights are missing or not what they should be
    ("no_config", lambda s: s.pop("config"), "'config'"),
    ("no_scheme", lambda s: s.pop("scheme"), "'scheme'"),
    ("no_weights", lambda s: s.pop("model"), "'model'"),
    ("config_not_dict", set_key("config", [1, 2]), "config"),
    ("scheme_not_dict", set_key("scheme", "ocb101"), "scheme"),
    ("weights_not_dict", set_key("model", [torch.zeros(2)]), "weights"),
    ("weight_not_tensor", set_weight(first_weight, lambda w: 1.0), "not a tensor"),
    # (1b) wrong shapes
    ("wrong_shape", set_weight(first_weight, lambda w: torch.zeros(w.shape[0] + 1, 3)), "shape"),
    # (1c) NaN / inf
    ("nan_weight", set_weight(first_weight, nan_at_first), "NaN or inf"),
    ("inf_weight", set_weight(first_weight, inf_at_first), "NaN or inf"),
    # (1d) missing / unknown weights, wrong kind, bad scheme
    ("missing_weight", lambda s: s["model"].pop(first_weight(s)), "missing weight"),
    ("unknown_weight", lambda s: s["model"].__setitem__("x.y", torch.zeros(1)), "unknown weight"),
    ("unknown_kind", set_key("kind", "nope"), "kind 'nope'"),
    ("kind_not_str", set_key("kind", 3), "kind"),
    ("other_kind", set_key("kind", "cktgnn"), "cktgnn"),
    ("scheme_bad_value", lambda s: s["scheme"].__setitem__("n_bw", "many"), "n_bw"),
    ("unknown_config_key", set_config(colour=1), "'colour'"),
    # (2) sizes out of bounds, checked before anything is built
    ("huge_int", set_config(d_enc=HUGE), "d_enc"),
    ("huge_float", set_config(d_gen=1e9), "d_gen"),
    ("negative", set_config(ff=-1), "ff"),
    ("bool_for_int", set_config(heads=True), "heads"),
    ("string_for_int", set_config(enc_layers="3"), "enc_layers"),
    ("nan_float", set_config(tau=float("nan")), "tau"),
    ("huge_classes", lambda s: s["scheme"].__setitem__("n_gain", HUGE), "n_gain"),
]


@pytest.mark.parametrize("edit, words", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_generate_refuses_a_malformed_checkpoint_in_one_line(saved, tmp_path, edit, words):
    bad = tamper(saved[0], tmp_path / "bad.pt", edit)
    r = run("generate", "--spec-class", saved[3], "-n", "1", "--model", bad)
    assert r.exit_code == 1, r.output
    assert r.output.startswith(f"Error: {bad}") and words in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_config_bounds_name_field_value_and_range(saved, tmp_path):
    bad = tamper(saved[0], tmp_path / "bad.pt", set_config(d_enc=HUGE))
    with pytest.raises(CktGenError, match=rf"d_enc.*1…4096.*{HUGE}"):
        load_model(bad)
    bad = tamper(saved[0], tmp_path / "bad.pt", set_config(d_gen=4096, ff=4096, gen_layers=8))
    with pytest.raises(CktGenError, match="parameters"):
        load_model(bad)  # each field in range, the whole too large


def test_every_numeric_config_field_has_bounds_that_its_presets_meet():
    from cktgen_eda.model.config import BOUNDS, check_fields

    for kind in KINDS:
        _, cfg_cls, presets = _parts(kind)
        numeric = [f.name for f in fields(cfg_cls) if f.type in ("int", "float")]
        assert set(numeric) <= set(BOUNDS), kind
        for config in presets.values():
            check_fields(cfg_cls, config.to_dict())
    assert {f.name for f in fields(EvaluatorConfig)} <= set(BOUNDS)
    for config in EV_PRESETS.values():
        check_fields(EvaluatorConfig, config.to_dict())


def test_evaluate_and_design_refuse_a_malformed_model(saved, tmp_path):
    bad = tamper(saved[0], tmp_path / "bad.pt", lambda s: s.pop("config"))
    r = run("evaluate", "--task", "recon", "--model", bad)
    assert r.exit_code == 1 and r.output.startswith(f"Error: {bad}: no 'config'"), r.output
    r = run("design", "--spec", "gain>=1dB", "--budget", "1", "--model", bad)
    assert r.exit_code == 1 and f"Error: {bad}: no 'config'" in r.output, r.output


EVALUATOR_MALFORMED = [
    ("no_config", lambda s: s.pop("config"), "'config'"),
    ("no_weights", lambda s: s.pop("model"), "'model'"),
    ("scheme_not_dict", set_key("scheme", 1), "scheme"),
    ("nan_weight", set_weight(first_weight, nan_at_first), "NaN or inf"),
    ("huge_hidden", set_config(hidden=HUGE), "hidden"),
    ("float_for_int", set_config(emb=16.5), "emb"),
    ("unknown_weight", lambda s: s["model"].__setitem__("x.y", torch.zeros(1)), "unknown weight"),
]


@pytest.mark.parametrize(
    "edit, words",
    [m[1:] for m in EVALUATOR_MALFORMED],
    ids=[m[0] for m in EVALUATOR_MALFORMED],
)
def test_load_evaluator_refuses_a_malformed_checkpoint(saved, tmp_path, edit, words):
    bad = tamper(saved[1], tmp_path / "bad.pt", edit)
    with pytest.raises(CktGenError, match=re.escape(str(bad))) as info:
        load_evaluator(bad)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_evaluate_cli_refuses_a_malformed_evaluator(saved, tmp_path):
    bad = tamper(saved[1], tmp_path / "bad.pt", lambda s: s.pop("config"))
    r = run("evaluate", "--model", saved[0], "--evaluator", bad, "--rounds", "1", "--no-verify")
    assert r.exit_code == 1 and r.output.startswith(f"Error: {bad}"), r.output


# ------------------------------------------------------------------------ integrity
def corrupt_in_place(path, n: int = 64):
    """Overwrite ``n`` bytes in the middle of the largest tensor storage with finite floats."""
    with zipfile.ZipFile(path) as z:
        members = [i for i in z.infolist() if re.search(r"/data/\d+$", i.filename)]
    info = max(members, key=lambda i: i.file_size)
    assert info.compress_type == zipfile.ZIP_STORED
    data = bytearray(path.read_bytes())
    at = info.header_offset
    name_len, extra_len = struct.unpack("<HH", data[at + 26 : at + 30])
    start = at + 30 + name_len + extra_len + info.file_size // 2
    start -= start % 4
    new = torch.full((n // 4,), 0.123).numpy().tobytes()
    assert bytes(data[start : start + n]) != new
    data[start : start + n] = new
    path.write_bytes(bytes(data))
    return path


def test_checkpoints_carry_a_content_hash(saved):
    for path in saved[:2]:
        assert re.fullmatch(r"[0-9a-f]{64}", torch.load(path, weights_only=True)["sha256"])


def test_corrupted_weights_are_refused(saved, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(saved[0].read_bytes())
    corrupt_in_place(bad)
    r = run("generate", "--spec-class", saved[3], "-n", "1", "--model", bad)
    assert r.exit_code == 1 and "content hash mismatch" in r.output, r.output
    assert r.output.startswith(f"Error: {bad}")
    bad.write_bytes(saved[1].read_bytes())
    corrupt_in_place(bad)
    with pytest.raises(CktGenError, match="content hash mismatch"):
        load_evaluator(bad)


def test_edited_config_or_info_is_refused(saved, tmp_path):
    state = torch.load(saved[0], weights_only=True)
    state["info"]["epoch"] = 999
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(CktGenError, match="content hash mismatch"):
        load_model(tmp_path / "bad.pt")


def test_a_checkpoint_without_hash_still_loads(saved, tmp_path):
    old = tamper(saved[0], tmp_path / "old.pt", lambda s: None)
    assert load_model(old).info == {"epoch": 1}


def test_shipped_checkpoints_carry_a_verified_hash():
    paths = [shipped_models()["ocb101"], *shipped_evaluators().values()]
    assert len(paths) == 3
    for path in paths:
        assert "sha256" in torch.load(path, weights_only=True)
        assert path.stat().st_size <= 20e6
    load_model("ocb101")
    for name in shipped_evaluators():
        load_evaluator(name)


# ------------------------------------------------------------------------ failed runs
TRAIN_FAILURES = [
    ("missing_dataset", lambda m, b, p: ["--dataset", p / "missing.npz"], "missing.npz"),
    ("huge_set", lambda m, b, p: ["--dataset", b, "--set", f"d_enc={HUGE}"], "d_enc"),
    ("bad_init", lambda m, b, p: ["--dataset", b, "--init", no_config(m, p)], "'config'"),
    ("init_of_other_kind", lambda m, b, p: ["--dataset", b, "--init", as_pace(m, p)], "pace"),
    (
        "ldt_bad_vae",
        lambda m, b, p: ["--dataset", b, "--model", "ldt", "--init", no_config(m, p)],
        "'config'",
    ),
    (
        "ldt_huge_set",
        lambda m, b, p: ["--dataset", b, "--model", "ldt", "--init", m, "--set", f"d={HUGE}"],
        "'d'",
    ),
]


def no_config(model, folder):
    return tamper(model, folder / "bad.pt", lambda s: s.pop("config"))


def as_pace(model, folder):
    return tamper(model, folder / "pace.pt", set_key("kind", "pace"))


@pytest.mark.parametrize(
    "args, words", [t[1:] for t in TRAIN_FAILURES], ids=[t[0] for t in TRAIN_FAILURES]
)
def test_failed_train_leaves_no_run_folder(saved, tmp_path, args, words):
    model, _, bench, _ = saved
    out = tmp_path / "runs" / "run"
    r = run(
        "train",
        *args(model, bench, tmp_path),
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--out-dir",
        out,
    )
    assert r.exit_code == 1 and words in r.output, r.output
    assert r.output.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_a_run_failing_in_its_first_epoch_removes_its_folder(saved, tmp_path, monkeypatch):
    from cktgen_eda.training import train as train_module

    def broken(*args, **kwargs):
        raise CktGenError("simulator gone")

    monkeypatch.setattr(train_module, "evaluate", broken)
    cfg = train_module.TrainConfig(
        dataset=str(saved[2]), preset="tiny", epochs=1, batch_size=16, eval_every=1, threads=1
    )
    with pytest.raises(CktGenError, match="simulator gone"):
        train_module.train(cfg, tmp_path / "runs" / "run", progress=False)
    assert not (tmp_path / "runs").exists()


def test_resume_from_a_checkpoint_without_optimizer_is_one_line(saved, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes(saved[0].read_bytes())
    args = ["--dataset", saved[2], "--preset", "tiny", "--epochs", "2", "--out-dir", out]
    r = run("train", *args, "--resume")
    assert r.exit_code == 1 and "no optimizer state" in r.output, r.output
    assert (out / "last.pt").exists()


def test_failed_train_keeps_a_folder_it_did_not_create(saved, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    r = run("train", "--dataset", tmp_path / "missing.npz", "--out-dir", out)
    assert r.exit_code == 1 and (out / "notes.txt").read_text() == "keep"
