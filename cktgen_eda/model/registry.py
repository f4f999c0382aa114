"""Model kinds by name: CktGen, the paper's baselines (paper §2.3, Fig. 5) and the evaluator.

Each kind maps to a module holding the model class, its config dataclass and ``PRESETS``;
modules are imported on first use, so loading CktGen never imports the baselines.
``make_config`` is the one place a preset name becomes a config.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import import_module
from typing import Any

from ..data.dataset import SpecScheme
from ..errors import CktGenError
from .config import check_fields, check_size

# generative kind → (module, model class, config class)
KINDS = {
    "cktgen": ("cktgen_eda.model.cktgen", "CktGen", "CktGenConfig"),
    "pace": ("cktgen_eda.model.baselines.pace", "PACE", "PACEConfig"),
    "cktgnn": ("cktgen_eda.model.baselines.cktgnn", "CktGNN", "CktGNNConfig"),
    "cvaegan": ("cktgen_eda.model.baselines.cvaegan", "CVAEGAN", "CVAEGANConfig"),
    "ldt": ("cktgen_eda.model.baselines.ldt", "LDT", "LDTConfig"),
}
# Everything ``train`` can train: the generative kinds and the surrogate evaluator, which
# scores them (model/evaluator.py) and is configured, built and saved the same way.
TRAINABLE = {**KINDS, "evaluator": ("cktgen_eda.model.evaluator", "Evaluator", "EvaluatorConfig")}


def _parts(kind: str) -> tuple[Any, Any, dict]:
    if kind not in TRAINABLE:
        raise CktGenError(f"unknown model kind {kind!r}; known: {', '.join(TRAINABLE)}")
    mod_name, cls_name, cfg_name = TRAINABLE[kind]
    mod = import_module(mod_name)
    return getattr(mod, cls_name), getattr(mod, cfg_name), mod.PRESETS


def model_class(kind: str):
    return _parts(kind)[0]


def config_from_dict(kind: str, d: dict[str, Any]):
    """The kind's config from a dict, checked against the bounds (model/config.py)."""
    return _parts(kind)[1].from_dict(d)


def make_config(kind: str, preset: str = "cpu", **overrides: Any):
    """The named preset of a kind, with field overrides (unknown fields are an error).

    Example: ``make_config("cktgen", "tiny", latent=8)``.
    """
    _, _, presets = _parts(kind)
    if preset not in presets:
        raise CktGenError(f"unknown preset {preset!r} for {kind}; known: {', '.join(presets)}")
    check_overrides(kind, overrides)
    return replace(presets[preset], **overrides)


def check_overrides(kind: str, overrides: dict[str, Any]) -> None:
    """Raise unless each override names a field of the kind's config and is in bounds."""
    cfg_cls = _parts(kind)[1]
    bad = sorted(set(overrides) - set(cfg_cls.__dataclass_fields__))
    if bad:
        raise CktGenError(f"{kind} config has no field {bad[0]!r}")
    check_fields(cfg_cls, overrides)


def build_model(kind: str, config, scheme: SpecScheme, with_encoder: bool = True):
    """A fresh model of ``kind`` from its config.

    Raises:
        CktGenError: when the model would exceed ``MAX_PARAMETERS`` (model/config.py) or the
            config's sizes do not fit together (e.g. heads not dividing a width).
    """
    cls = model_class(kind)

    def build():
        return cls(config, scheme, with_encoder=with_encoder)

    try:
        check_size(kind, build)
        return build()
    except (AssertionError, ValueError, TypeError, RuntimeError, ZeroDivisionError) as exc:
        if isinstance(exc, CktGenError):
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CktGenError(f"cannot build a {kind} model from its config: {first}") from None
