"""Checkpoints: one ``.pt`` file with weights, config, spec scheme, dataset manifest, metrics.

Plain tensors and JSON-able values only, so ``torch.load(weights_only=True)`` reads it, and
``load_model`` needs nothing else. Shipped models live in ``cktgen_eda/weights/NAME.pt``.
"""

from __future__ import annotations

import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..data.dataset import SpecScheme
from ..errors import CktGenError
from ..fileio import atomic_write
from ..model.registry import build_model, config_from_dict

DEFAULT_MODEL = "ocb101"


def save_checkpoint(
    path: str | Path,
    model: Any,
    info: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
) -> Path:
    """Write model (+ optimizer for resuming) and ``info`` (epoch, metrics, manifest…)."""
    state = {
        "format": "cktgen-eda/checkpoint",
        "version": __version__,
        "kind": model.kind,
        "config": model.config.to_dict(),
        "scheme": model.scheme.to_dict(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        # JSON round trip: numpy scalars become floats, so weights_only loading accepts it
        "info": json.loads(json.dumps(info, default=float)),
    }
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    return atomic_write(path, buf.getvalue(), force=True)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CktGenError(f"{path}: no such model file") from None
    except Exception as exc:  # torch raises many types for a bad file
        raise CktGenError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != "cktgen-eda/checkpoint":
        raise CktGenError(f"{path}: not a cktgen-eda checkpoint")
    return state


def shipped_models() -> dict[str, Path]:
    """Checkpoints shipped in ``cktgen_eda/weights/``, by name."""
    folder = resources.files("cktgen_eda").joinpath("weights")
    if not folder.is_dir():
        return {}
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".pt")}


def model_path(name_or_path: str | Path | None) -> Path:
    """Resolve a shipped model name (default ``ocb101``) or a path."""
    shipped = shipped_models()
    name = str(name_or_path or DEFAULT_MODEL)
    if name in shipped:
        return shipped[name]
    path = Path(name)
    if not path.exists():
        known = ", ".join(sorted(shipped)) or "none"
        raise CktGenError(f"no model named {name!r} (shipped: {known})")
    return path


def load_model(name_or_path: str | Path | None = None, with_encoder: bool = False):
    """Load a model for inference (eval mode); ``info`` holds its metrics and provenance.

    The checkpoint's ``kind`` (default ``cktgen``) picks the model class (model/registry.py).
    Without ``with_encoder`` the circuit encoder is skipped: generation needs only the spec
    encoder and the generator, and torch-geometric stays unloaded.
    """
    state = read_checkpoint(model_path(name_or_path))
    kind = state.get("kind", "cktgen")
    model = build_model(
        kind,
        config_from_dict(kind, state["config"]),
        SpecScheme.from_dict(state["scheme"]),
        with_encoder=with_encoder,
    )
    weights = state["model"]
    if not with_encoder:
        expected = set(model.state_dict())
        weights = {k: v for k, v in weights.items() if k in expected}
    model.load_state_dict(weights)
    model.info = state["info"]
    return model.eval()
