"""Dataset recipes (``recipes.toml``): what ``dataset build`` generates, as data.

A recipe fixes the generator settings, the counts, the split and the seed, so a benchmark is
regenerated bit-for-bit from its name. Keys are checked: an unknown key or a wrong type names
the recipe and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields, replace
from importlib import resources
from typing import Any

from ..errors import CktGenError
from .generator import GeneratorSettings

KEEP = ("all", "working")


@dataclass(frozen=True)
class Recipe:
    """One benchmark recipe.

    Attributes:
        name: recipe name (``ocb101``).
        description: one line for ``dataset info``.
        circuits: rows in the dataset; the first ``train`` are the training split.
        train: size of the training split.
        seed: seed of the generator's ``random.Random``.
        reuse: K, circuits per topology draw.
        pool: circuits generated before a random subset of ``circuits`` is kept.
        shuffle: shuffle the kept rows (else they stay in generation order).
        keep: ``"all"`` keeps a random subset of the pool; ``"working"`` keeps, in
            generation order, the circuits that are valid, stable open loop and at unity
            gain with gain above 0 dB, until ``circuits`` are kept (``pool`` then bounds how
            many may be generated).
        settings: generator knobs (probabilities, value ranges).
    """

    name: str
    description: str
    circuits: int
    train: int
    seed: int
    reuse: int = 20
    pool: int | None = None
    shuffle: bool = True
    keep: str = "all"
    settings: GeneratorSettings = GeneratorSettings()

    def __post_init__(self) -> None:
        pool = self.circuits if self.pool is None else self.pool
        object.__setattr__(self, "pool", pool)
        checks = [
            (self.circuits >= 1, f"circuits must be >= 1, found {self.circuits}"),
            (
                0 <= self.train <= self.circuits,
                f"train must be 0…{self.circuits}, found {self.train}",
            ),
            (self.reuse >= 1, f"reuse must be >= 1, found {self.reuse}"),
            (pool >= self.circuits, f"pool must be >= circuits ({self.circuits}), found {pool}"),
            (self.keep in KEEP, f"keep must be one of {', '.join(KEEP)}, found {self.keep!r}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise CktGenError(f"recipe {self.name!r}: {msg}")

    @property
    def test(self) -> int:
        return self.circuits - self.train

    def with_counts(self, circuits: int | None = None, seed: int | None = None) -> Recipe:
        """A copy with another size (split and pool scaled in proportion) and/or seed."""
        out = self
        if circuits is not None and circuits != self.circuits:
            scale = circuits / self.circuits
            out = replace(
                out,
                circuits=circuits,
                train=round(self.train * scale),
                pool=max(circuits, round(self.pool * scale)),
            )
        if seed is not None:
            out = replace(out, seed=seed)
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["settings"] = asdict(self.settings)
        if self.keep == "all":  # the default, left out: older manifests stay byte-identical
            del d["keep"]
        return d

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> Recipe:
        """Build from a TOML table; generator keys sit beside the recipe keys."""
        recipe_keys = {f.name for f in fields(cls)} - {"name", "settings"}
        setting_keys = {f.name for f in fields(GeneratorSettings)}
        kwargs: dict[str, Any] = {}
        settings: dict[str, float] = {}
        for key, value in d.items():
            if key in setting_keys:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise CktGenError(f"recipe {name!r}: {key} must be a number, found {value!r}")
                settings[key] = float(value)
            elif key in recipe_keys:
                _check_type(name, key, value)
                kwargs[key] = value
            else:
                raise CktGenError(f"recipe {name!r}: unknown key {key!r}")
        for key in ("description", "circuits", "train", "seed"):
            if key not in kwargs:
                raise CktGenError(f"recipe {name!r}: missing key {key!r}")
        return cls(name=name, settings=GeneratorSettings(**settings), **kwargs)


def _check_type(name: str, key: str, value: Any) -> None:
    want = {"description": str, "shuffle": bool, "keep": str}.get(key, int)
    ok = isinstance(value, want) and (want is bool or not isinstance(value, bool))
    if not ok:
        raise CktGenError(f"recipe {name!r}: {key} must be {want.__name__}, found {value!r}")


def load_recipes() -> dict[str, Recipe]:
    """All recipes shipped in ``recipes.toml``, by name."""
    text = resources.files(__package__).joinpath("recipes.toml").read_text(encoding="utf-8")
    return {name: Recipe.from_dict(name, table) for name, table in tomllib.loads(text).items()}


def get_recipe(name: str) -> Recipe:
    """The shipped recipe ``name``.

    Raises:
        CktGenError: for an unknown name (the message lists the known ones).
    """
    recipes = load_recipes()
    if name not in recipes:
        raise CktGenError(f"unknown recipe {name!r}; known: {', '.join(sorted(recipes))}")
    return recipes[name]
