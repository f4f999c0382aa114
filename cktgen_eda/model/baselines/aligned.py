"""What the PACE and CktGNN baselines share: CktGen's spec encoder and alignment losses.

Paper §2.3: both baselines keep their own circuit encoder and decoder but get a spec
encoder like CktGen's and CktGen's specification-circuit alignment losses, so that the
comparison is between architectures. ``AlignedVAE`` holds that common part; a subclass
builds ``circuit_encoder`` (batch → μ_c, log σ_c²), ``spec_encoder``, ``guidance`` and
``generator`` (teacher-forced losses via ``generator(z, batch)``) and defines ``decode``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...data.dataset import Batch
from ...errors import CktGenError
from ..cktgen import kl_normal, stack2, weighted_recon
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


def aligned_loss(
    model: nn.Module,
    b: Batch,
    mu_c: torch.Tensor,
    lv_c: torch.Tensor,
    recon: Callable[[torch.Tensor, Batch], dict[str, torch.Tensor]],
) -> tuple[torch.Tensor, dict[str, float]]:
    """CktGen's loss assembly (paper eqs. 3–9) around any circuit encoder and decoder.

    ``model`` has ``config`` (w_type … w_align, tau), ``spec_encoder`` and ``guidance``;
    ``recon(z, b2)`` returns the type/pos/size/edge reconstruction losses of ``b2`` (the batch
    twice) from z = [z_c; z_s]. Terms and weights are those of ``CktGen.loss``.
    """
    c = model.config
    classes = torch.stack([b.gain, b.bw, b.pm], -1)
    mu_s, lv_s = model.spec_encoder(classes)
    z_c = mu_c + torch.randn_like(mu_c) * (0.5 * lv_c).exp()
    z_s = mu_s + torch.randn_like(mu_s) * (0.5 * lv_s).exp()
    rec = recon(torch.cat([z_c, z_s]), stack2(b))
    rec_total = weighted_recon(c, rec)
    kl = kl_normal(mu_c, lv_c) + kl_normal(mu_s, lv_s)
    kl = kl + kl_normal(mu_c, lv_c, mu_s, lv_s) + kl_normal(mu_s, lv_s, mu_c, lv_c)
    sim = F.normalize(mu_c, dim=-1) @ F.normalize(mu_s, dim=-1).T / c.tau + b.filter_mask
    target = torch.arange(len(sim), device=sim.device)
    nce = 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target))
    guide = sum(F.cross_entropy(h(z_c), classes[:, k]) for k, h in enumerate(model.guidance))
    align = F.smooth_l1_loss(z_c, z_s)
    total = 2 * rec_total + c.w_kl * kl + c.w_align * (nce + guide + align)
    terms = {"loss": total, "recon": rec_total, "kl": kl, "nce": nce, "guide": guide}
    terms.update(align=align, **{f"rec_{k}": v for k, v in rec.items()})
    return total, {k: float(v.detach()) for k, v in terms.items()}
