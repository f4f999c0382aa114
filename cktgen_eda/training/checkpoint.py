"""Checkpoints: one ``.pt`` file with weights, config, spec scheme, dataset manifest, metrics.

Plain tensors and JSON-able values only, so ``torch.load(weights_only=True)`` reads it, and
``load_model`` needs nothing else. Shipped models live in ``cktgen_eda/weights/NAME.pt``.
The surrogate evaluator (model/evaluator.py) is saved and checked the same way, in its own
format so that neither loader takes the other's file; shipped ones live in
``cktgen_eda/weights/evaluators/DATASET.pt`` and load with ``load_evaluator``.

A checkpoint may come from anywhere, so loading checks it before building anything: the
entries and their types, the ``sha256`` content hash (``content_hash``), finite weights, the
config against the bounds of model/config.py, then every weight's name and shape. Each
problem is one ``CktGenError`` naming the file. Files without a hash (written before it
existed) still load; the shipped ones carry one (tests/test_security_checkpoint.py).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import CktGenError
from ..fileio import atomic_write
from ..model.config import scheme_from_dict
from ..model.registry import KINDS, build_model, config_from_dict

DEFAULT_MODEL = "stable101"  # trained on working amplifiers; ocb101 serves the paper protocol
DEFAULT_EVALUATOR = "ocb101"
FORMAT = "cktgen-eda/checkpoint"
EVALUATOR_FORMAT = "cktgen-eda/evaluator"
# Entries the content hash covers, with the weights; not ``version`` nor the optimizer state.
HASHED = ("format", "kind", "config", "scheme", "info")
# Weights of the circuit encoder, which ``load_model`` skips without ``with_encoder``.
ENCODER_PREFIXES = ("circuit_encoder.", "vae.circuit_encoder.")


def content_hash(state: dict[str, Any]) -> str:
    """sha256 of a checkpoint's content, hex.

    The ``HASHED`` entries as JSON with sorted keys, then for each weight in sorted name
    order its name, dtype and shape (JSON) and its raw bytes (native byte order).
    """
    h = hashlib.sha256()
    head = {k: state[k] for k in HASHED if k in state}
    h.update(json.dumps(head, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(state["model"]):
        t = state["model"][name].detach().cpu().contiguous()
        h.update(json.dumps([name, str(t.dtype), list(t.shape)]).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def write_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Add the content hash to ``state`` and write it atomically."""
    state["sha256"] = content_hash(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    return atomic_write(path, buf.getvalue(), force=True)


def save_checkpoint(
    path: str | Path,
    model: Any,
    info: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
) -> Path:
    """Write model (+ optimizer for resuming) and ``info`` (epoch, metrics, manifest…).

    An evaluator is written in ``EVALUATOR_FORMAT``, without a ``kind`` entry.
    """
    evaluator = model.kind == "evaluator"
    state: dict[str, Any] = {
        "format": EVALUATOR_FORMAT if evaluator else FORMAT,
        "version": __version__,
    }
    if not evaluator:
        state["kind"] = model.kind
    state.update(
        config=model.config.to_dict(),
        scheme=model.scheme.to_dict(),
        model={k: v.detach().cpu() for k, v in model.state_dict().items()},
        # JSON round trip: numpy scalars become floats, so weights_only loading accepts it
        info=json.loads(json.dumps(info, default=float)),
    )
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    return write_state(path, state)


@contextmanager
def about(path: str | Path) -> Iterator[None]:
    """Prefix ``path`` to the message of a ``CktGenError`` raised inside."""
    try:
        yield
    except CktGenError as exc:
        raise CktGenError(f"{path}: {exc}") from None


def read_state(path: str | Path, fmt: str, what: str) -> dict[str, Any]:
    """A checkpoint file of format ``fmt``, its entries, hash and weights checked.

    Args:
        what: the file's kind in messages (``checkpoint``, ``evaluator``).
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CktGenError(f"{path}: no such {what} file") from None
    except Exception as exc:  # torch raises many types for a bad file
        raise CktGenError(f"{path}: not a readable {what} ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != fmt:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CktGenError(f"{path}: not a cktgen-eda {what} (format {found!r})")
    with about(path):
        _check_entries(state)
        if "sha256" in state and state["sha256"] != content_hash(state):
            raise CktGenError("content hash mismatch: file corrupted or edited")
        _check_finite(state["model"])
    return state


def _check_entries(state: dict[str, Any]) -> None:
    for key, name in (("config", "config"), ("scheme", "spec scheme"), ("model", "weights")):
        if key not in state:
            raise CktGenError(f"no {key!r} entry" + (f" (the {name})" if key != name else ""))
        if not isinstance(state[key], dict):
            raise CktGenError(f"the {name} must be a table, found {type(state[key]).__name__}")
    if not isinstance(state.get("info"), dict):
        raise CktGenError("no 'info' table")
    if not isinstance(state.get("sha256", ""), str):
        raise CktGenError("the content hash must be text")
    for name, t in state["model"].items():
        if not isinstance(t, torch.Tensor) or t.layout != torch.strided:
            raise CktGenError(f"weight {name!r} is not a tensor (found {type(t).__name__})")
    try:
        json.dumps({k: state[k] for k in HASHED if k in state}, sort_keys=True)
    except (TypeError, ValueError):
        raise CktGenError("config, scheme or info holds values that are not plain data") from None


def _check_finite(weights: dict[str, torch.Tensor]) -> None:
    for name, t in weights.items():
        if (t.is_floating_point() or t.is_complex()) and not torch.isfinite(t).all():
            raise CktGenError(f"weight {name!r} holds NaN or inf values")


def load_weights(module: torch.nn.Module, weights: dict[str, torch.Tensor], skip=()) -> None:
    """Load ``weights`` into ``module`` after checking their names and shapes.

    Args:
        skip: name prefixes dropped first (a part ``module`` was built without).
    """
    weights = {k: v for k, v in weights.items() if not k.startswith(skip)}
    expected = module.state_dict()
    missing = sorted(set(expected) - set(weights))
    unknown = sorted(set(weights) - set(expected))
    if missing:
        raise CktGenError(f"missing weight {missing[0]!r} ({len(missing)} missing)")
    if unknown:
        raise CktGenError(f"unknown weight {unknown[0]!r} ({len(unknown)} unknown)")
    for name, t in expected.items():
        if weights[name].shape != t.shape:
            raise CktGenError(
                f"weight {name!r} has shape {tuple(weights[name].shape)}, "
                f"the config needs {tuple(t.shape)}"
            )
    module.load_state_dict(weights)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A model checkpoint's entries, checked (see the module docstring).

    Raises:
        CktGenError: naming the file and what is wrong with it.
    """
    state = read_state(path, FORMAT, "checkpoint")
    with about(path):
        _parse(state)
    return state


def _parse(state: dict[str, Any]):
    """Kind, config and scheme of a checked checkpoint (an evaluator file has no kind)."""
    if state["format"] == EVALUATOR_FORMAT:
        kind = "evaluator"
    else:
        kind = state.get("kind", "cktgen")
        if not isinstance(kind, str) or kind not in KINDS:  # generative kinds only
            raise CktGenError(f"unknown model kind {kind!r}; known: {', '.join(KINDS)}")
    return kind, config_from_dict(kind, state["config"]), scheme_from_dict(state["scheme"])


def shipped_models() -> dict[str, Path]:
    """Checkpoints shipped in ``cktgen_eda/weights/``, by name."""
    return _shipped("weights")


def shipped_evaluators() -> dict[str, Path]:
    """Evaluators shipped in ``cktgen_eda/weights/evaluators/``, by dataset name."""
    return _shipped("weights", "evaluators")


def _shipped(*folder: str) -> dict[str, Path]:
    found = resources.files("cktgen_eda").joinpath(*folder)
    if not found.is_dir():
        return {}
    return {Path(p.name).stem: Path(str(p)) for p in found.iterdir() if p.name.endswith(".pt")}


def model_path(name_or_path: str | Path | None) -> Path:
    """Resolve a shipped model name (default ``DEFAULT_MODEL``) or a path."""
    return _resolve(name_or_path, shipped_models(), DEFAULT_MODEL, "model")


def evaluator_path(name_or_path: str | Path | None = None) -> Path:
    """Resolve a shipped evaluator name (default ``ocb101``) or a path."""
    return _resolve(name_or_path, shipped_evaluators(), DEFAULT_EVALUATOR, "evaluator")


def _resolve(name_or_path: str | Path | None, shipped: dict[str, Path], default: str, what: str):
    """``shipped[name]``, else an existing path.

    Raises:
        CktGenError: a missing file (the name has a suffix or a folder) or an unknown name.
    """
    name = str(name_or_path or default)
    if name in shipped:
        return shipped[name]
    path = Path(name)
    if path.exists():
        return path
    if path.suffix or len(path.parts) > 1:
        raise CktGenError(f"{path}: no such {what} file")
    known = ", ".join(sorted(shipped)) or "none"
    raise CktGenError(f"no {what} named {name!r} (shipped: {known})")


def load_model(name_or_path: str | Path | None = None, with_encoder: bool = False):
    """Load a model for inference (eval mode); ``info`` holds its metrics and provenance.

    The checkpoint's ``kind`` (default ``cktgen``) picks the model class (model/registry.py).
    Without ``with_encoder`` the circuit encoder is skipped: generation needs only the spec
    encoder and the generator, and torch-geometric stays unloaded.

    Raises:
        CktGenError: naming the file and what is wrong with it.
    """
    path = model_path(name_or_path)
    return _load(path, read_state(path, FORMAT, "checkpoint"), with_encoder)


def load_evaluator(name_or_path: str | Path | None = None):
    """Load an evaluator (eval mode); ``info`` holds its training run and held-out report.

    Raises:
        CktGenError: naming the file and what is wrong with it.
    """
    path = evaluator_path(name_or_path)
    return _load(path, read_state(path, EVALUATOR_FORMAT, "evaluator"))


def _load(path: Path, state: dict[str, Any], with_encoder: bool = True):
    """The model of a checked checkpoint ``state``, built and its weights loaded."""
    with about(path):
        kind, config, scheme = _parse(state)
        model = build_model(kind, config, scheme, with_encoder=with_encoder)
        load_weights(model, state["model"], () if with_encoder else ENCODER_PREFIXES)
    model.info = state["info"]
    return model.eval()
