"""Shared parts of the models' frozen config dataclasses, their presets and their bounds.

The circuit VAEs of the comparison (paper §2.3) share most of their fields: every one has
``VAEConfig``'s widths and reconstruction weights, the transformer models add
``TransformerConfig``'s depths and dropouts, and the aligned ones ``AlignmentConfig``'s
InfoNCE temperature and weight. A model's config dataclass inherits the parts it uses.

A config can come from a checkpoint someone else wrote, so every field is checked against
``BOUNDS`` (type and range) before anything is built, and the whole model against
``MAX_PARAMETERS``: a hostile ``d_enc=1e9`` is an error naming the field, never a 16 GB
allocation. The spec scheme stored beside the config is checked the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from ..data.dataset import SpecScheme
from ..errors import CktGenError

# The small sizes every model's ``tiny`` preset uses (tests); fields a config lacks are skipped.
TINY = dict(
    d_enc=32,
    latent=16,
    d_gen=32,
    enc_layers=1,
    gen_layers=1,
    heads=2,
    ff=64,
    gnn_layers=1,
    drop_emb=0.0,
    drop_enc=0.0,
    drop_gen=0.0,
)

# Allowed range of every numeric config field (all kinds and the evaluator), inclusive.
_WIDTHS = "d_enc latent d_gen ff d d_disc emb hidden pool_hidden pool_out size_hidden size_out"
BOUNDS: dict[str, tuple[float, float]] = {
    **dict.fromkeys((*_WIDTHS.split(), "head_hidden", "tokens"), (1, 4096)),
    **dict.fromkeys(("enc_layers", "gen_layers", "layers"), (1, 32)),
    "gnn_layers": (0, 32),
    "heads": (1, 64),
    "max_n": (2, 64),
    "steps": (1, 100_000),
    "sample_steps": (1, 100_000),
    **dict.fromkeys(("drop_emb", "drop_enc", "drop_gen", "dropout", "p_uncond"), (0, 1)),
    **dict.fromkeys(("w_type", "w_pos", "w_size", "w_edge", "w_kl", "w_align", "w_adv"), (0, 1e6)),
    "tau": (1e-6, 1e6),
    "eta": (0, 1e3),
    "cfg_scale": (0, 1e3),
}
# Class counts of a spec scheme (ocb101 has 4, 31 and 5).
SCHEME_BOUNDS: dict[str, tuple[int, int]] = dict.fromkeys(("n_gain", "n_bw", "n_pm"), (1, 4096))
# Values in a model's state dict; the largest preset (paper evaluator) has ≈ 10.7 M.
MAX_PARAMETERS = 100_000_000

_KINDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "text"}


class ConfigMixin:
    """``to_dict`` / ``from_dict`` for a config dataclass; unknown keys are an error."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """The config from a dict, every value checked against its type and ``BOUNDS``."""
        if not isinstance(d, dict):
            raise CktGenError(f"{_label(cls)} must be a table, found {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names, key=str)
        if unknown:
            raise CktGenError(f"{_label(cls)} has unknown key {unknown[0]!r}")
        check_fields(cls, d)
        return cls(**d)


@dataclass(frozen=True)
class VAEConfig(ConfigMixin):
    """What every circuit VAE has: widths, vertex slots, reconstruction and KL weights.

    Defaults are the ``cpu`` preset's, the shipped model's (docs/training.md).
    """

    d_enc: int = 128  # encoder width (also the spec encoder's and guidance heads')
    latent: int = 64
    d_gen: int = 192  # generator width
    max_n: int = 8
    w_type: float = 1.0
    w_pos: float = 1.0
    w_size: float = 1.0
    w_edge: float = 1.0
    w_kl: float = 1e-4  # 0: the "w/o KL" ablation (paper Table 2)


@dataclass(frozen=True)
class TransformerConfig(VAEConfig):
    """A VAE with CktGen's transformer encoder and generator: depths and dropouts."""

    enc_layers: int = 3
    gen_layers: int = 4
    heads: int = 4
    ff: int = 384
    drop_emb: float = 0.2
    drop_enc: float = 0.3
    drop_gen: float = 0.1


@dataclass(frozen=True)
class AlignmentConfig:
    """CktGen's specification-circuit alignment losses (paper eqs. 6–9)."""

    tau: float = 0.1  # InfoNCE temperature
    w_align: float = 1.0  # InfoNCE + guidance + feature alignment; 0: "w/o alignment"


def check_fields(cls: type, values: dict[str, Any]) -> None:
    """Raise unless each value has its ``cls`` field's type and lies in ``BOUNDS``."""
    types = {f.name: str(f.type) for f in fields(cls)}
    for name, value in values.items():
        want = types[name]
        what = f"{_label(cls)} field {name!r}"
        if not _has_type(value, want):
            kind = _KINDS.get(want, "a table" if want.startswith("dict") else want)
            raise CktGenError(f"{what} must be {kind}, found {value!r}")
        if name in BOUNDS:
            _check_range(what, value, BOUNDS[name])


def _label(cls: type) -> str:
    """``CktGenConfig`` → ``cktgen config`` (the kind's name in messages)."""
    return cls.__name__.removesuffix("Config").lower() + " config"


def _has_type(value: Any, want: str) -> bool:
    if want == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if want == "int":
        return isinstance(value, int)
    if want == "float":
        return isinstance(value, (int, float)) and math.isfinite(value)
    if want == "str":
        return isinstance(value, str)
    return not want.startswith("dict") or isinstance(value, dict)


def _check_range(what: str, value: float, bounds: tuple[float, float]) -> None:
    lo, hi = bounds
    if not lo <= value <= hi:
        raise CktGenError(f"{what} must be in {lo:g}…{hi:g}, found {value!r}")


def scheme_from_dict(d: Any) -> SpecScheme:
    """``SpecScheme.from_dict`` after checking the types and ``SCHEME_BOUNDS``."""
    if not isinstance(d, dict):
        raise CktGenError(f"spec scheme must be a table, found {type(d).__name__}")
    for name, bounds in SCHEME_BOUNDS.items():
        value = d.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, int):
            raise CktGenError(f"spec scheme field {name!r} must be an integer, found {value!r}")
        _check_range(f"spec scheme field {name!r}", value, bounds)
    for name in ("fom_mean", "fom_std"):
        value = d.get(name, 0.0)
        if not _has_type(value, "float"):
            raise CktGenError(f"spec scheme field {name!r} must be a number, found {value!r}")
    keys = d.get("train_keys", [])
    if not isinstance(keys, list) or not all(_has_type(k, "int") for k in keys):
        raise CktGenError("spec scheme field 'train_keys' must be a list of integers")
    return SpecScheme.from_dict(d)


def check_size(what: str, build: Callable[[], torch.nn.Module]) -> None:
    """Raise when the module ``build()`` makes holds more than ``MAX_PARAMETERS`` values.

    Built on the meta device: shapes only, no memory and no random numbers drawn.
    """
    with torch.device("meta"):
        module = build()
    n = sum(t.numel() for t in module.state_dict().values())
    if n > MAX_PARAMETERS:
        raise CktGenError(
            f"{what} config gives {n:,} parameters, more than the {MAX_PARAMETERS:,} allowed"
        )


def tiny(cls: type, **extra: Any):
    """``cls`` with the ``TINY`` sizes it has fields for, plus ``extra``."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in TINY.items() if k in names}, **extra)
