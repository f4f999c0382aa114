"""What every generative model of this package offers (CktGen, its ablations, the baselines).

The training loop, the checkpoint format and the evaluation tasks talk to models only
through this protocol, so one ``train`` and one ``evaluate`` serve every method of the
paper's tables. A model module defines its ``nn.Module`` (with a class attribute ``kind``),
a frozen config dataclass (``to_dict`` / ``from_dict``) and ``PRESETS`` (name → config,
at least ``cpu`` and ``tiny``); ``model/registry.py`` maps kinds to them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import torch

from ..data.dataset import Batch, SpecScheme
from .generator import Decoded


class GenerativeModel(Protocol):
    """Constructor: ``Model(config, scheme, with_encoder=True)``.

    ``with_encoder=False`` may skip the circuit encoder (generation does not need it).
    """

    kind: ClassVar[str]
    config: Any
    scheme: SpecScheme

    def loss(self, b: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Total training loss of one batch and its named terms (floats, for the log)."""

    def generate(
        self, classes: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False
    ) -> list[Decoded]:
        """One decoded circuit per row of spec classes [B, 3] (gain, bw, pm)."""

    def decode(
        self, z: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False
    ) -> list[Decoded]:
        """Decode latents z [B, latent] (unconditional generation samples z from the prior)."""

    def reconstruct(self, b: Batch) -> list[Decoded]:
        """Greedy decode of each circuit's posterior mean (paper §3.4 Recon-Acc)."""

    def embed_circuits(self, b: Batch) -> torch.Tensor:
        """Posterior means [B, latent] of the circuits (t-SNE, prior rescaling)."""

    def embed_specs(self, classes: torch.Tensor) -> torch.Tensor | None:
        """Spec latents [B, latent] (μ_s), or None for a model without a spec encoder."""
