"""What the PACE and CktGNN baselines share: CktGen's spec encoder and alignment losses.

Paper §2.3: both baselines keep their own circuit encoder and decoder but get a spec
encoder like CktGen's and CktGen's specification-circuit alignment losses, so that the
comparison is between architectures. ``AlignedVAE`` holds that common part; a subclass
builds ``circuit_encoder`` (batch → μ_c, log σ_c²), ``spec_encoder``, ``guidance`` and
``generator`` (teacher-forced losses via ``generator(z, batch)``) and defines ``decode``.
"""

from __future__ import annotations

import torch
from torch import nn

from ...data.dataset import Batch
from ...errors import CktGenError
from ..cktgen import aligned_loss
from ..generator import Decoded


class AlignedVAE(nn.Module):
    """Loss, generation, reconstruction and embeddings around any encoder and decoder."""

    def loss(self, b: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and its named terms (floats) for one batch."""
        mu_c, lv_c = self.circuit_encoder(b)
        return aligned_loss(self, b, mu_c, lv_c, self.generator)

    @torch.no_grad()
    def generate(
        self, classes: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False
    ) -> list[Decoded]:
        """One decode per row of spec classes [B, 3]: z_s = μ_s + σ_s·ε → decoder."""
        mu, lv = self.spec_encoder(classes)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        return self.decode(mu + eps * (0.5 * lv).exp(), generator, greedy)

    @torch.no_grad()
    def reconstruct(self, b: Batch) -> list[Decoded]:
        """Greedy decode of each circuit's posterior mean μ_c."""
        return self.decode(self.embed_circuits(b), greedy=True)

    @torch.no_grad()
    def embed_circuits(self, b: Batch) -> torch.Tensor:
        """μ_c [B, latent]."""
        if self.circuit_encoder is None:
            raise CktGenError(f"this {self.kind} model was loaded without its circuit encoder")
        return self.circuit_encoder(b)[0]

    @torch.no_grad()
    def embed_specs(self, classes: torch.Tensor) -> torch.Tensor:
        """μ_s [B, latent] of spec classes [B, 3]."""
        return self.spec_encoder(classes)[0]
