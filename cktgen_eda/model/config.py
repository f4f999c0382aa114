"""Shared behaviour of the models' frozen config dataclasses and presets."""

from __future__ import annotations

from dataclasses import asdict, fields, replace
from typing import Any

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


class ConfigMixin:
    """``to_dict`` / ``from_dict`` for a config dataclass; unknown keys are an error."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise CktGenError(f"model config has unknown key {unknown[0]!r}")
        return cls(**d)


def tiny(cls: type, **extra: Any):
    """``cls`` with the ``TINY`` sizes it has fields for, plus ``extra``."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in TINY.items() if k in names}, **extra)


def pick(presets: dict[str, Any], name: str, **overrides: Any):
    """The named preset with field overrides."""
    if name not in presets:
        raise CktGenError(f"unknown preset {name!r}; known: {', '.join(presets)}")
    return replace(presets[name], **overrides)
