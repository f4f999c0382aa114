"""CktGen (paper §2.2): circuit VAE + specification encoder aligned in one latent space.

Losses (paper eqs. 3–9): reconstruction of the circuit from z_c and from z_s (node type,
position, device sizes, edges with λ weights); four KL terms (q_c‖N, q_s‖N, q_c‖q_s, q_s‖q_c)
weighted by λ_KL; InfoNCE between μ_c and μ_s with temperature τ, where pairs of different
circuits that share a joint class are masked out; classifier guidance (CE of three MLP heads
on z_c); feature alignment (smooth-L1 between z_c and z_s). Generation: spec classes →
μ_s, σ_s → z_s → generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.dataset import Batch, SpecScheme, collate
from ..errors import CktGenError
from .config import AlignmentConfig, TransformerConfig, tiny
from .encoders import CircuitEncoder, SpecEncoder, mlp
from .generator import CircuitGenerator, Decoded


@dataclass(frozen=True)
class CktGenConfig(AlignmentConfig, TransformerConfig):
    """Model and loss hyper-parameters (defaults: the ``cpu`` preset, the shipped model's).

    Sized from measured epoch times on the 2-core machine (docs/training.md): 39.7 s per
    epoch on ocb101 at batch 128, so the 128 epochs behind the shipped model take ≈ 85 min.
    The shared fields are in model/config.py.
    """

    gnn_layers: int = 2
    spec_path: bool = True  # False: a plain circuit VAE (recon preset, LDT's frozen VAE)
    log_sizes: bool = False  # size head in log space (relative error), see generator.py


PRESETS = {
    "cpu": CktGenConfig(),
    # Paper §2.4: 8 heads, 4 layers, FFN 512, d_enc 128, latent 64, d_gen 512.
    "paper": CktGenConfig(
        d_enc=128, latent=64, d_gen=512, enc_layers=4, gen_layers=4, heads=8, ff=512
    ),
    # Reconstruction / unconditional generation (paper §3.4, Table 5) and LDT's frozen VAE:
    # the circuit VAE alone (no spec encoder losses) with a 10× larger KL weight, so that
    # prior samples land where the decoder was trained.
    "recon": CktGenConfig(w_kl=1e-3, spec_path=False),
    "tiny": tiny(CktGenConfig),
}


def spec_modules(c, scheme: SpecScheme) -> tuple[SpecEncoder, nn.ModuleList]:
    """The spec encoder and the three classifier-guidance heads (gain, bw, pm) on z_c.

    CktGen's spec side (paper §2.2.1), which the PACE and CktGNN baselines get too.
    """
    spec_encoder = SpecEncoder(
        scheme.n_classes, c.d_enc, c.latent
    )  # before the heads: same seed, same weights
    return spec_encoder, nn.ModuleList(mlp(c.latent, c.d_enc, n) for n in scheme.n_classes)


def weighted_recon(c, rec: dict[str, torch.Tensor]) -> torch.Tensor:
    """w_type·type + w_pos·pos + w_size·size + w_edge·edge of a generator's loss dict."""
    return (
        c.w_type * rec["type"]
        + c.w_pos * rec["pos"]
        + c.w_size * rec["size"]
        + c.w_edge * rec["edge"]
    )


def kl_normal(mu_q, logvar_q, mu_p=None, logvar_p=None) -> torch.Tensor:
    """KL(N(μ_q, σ_q²) ‖ N(μ_p, σ_p²)), summed over dimensions, averaged over the batch."""
    if mu_p is None:
        mu_p, logvar_p = torch.zeros_like(mu_q), torch.zeros_like(logvar_q)
    kl = 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1)
    return kl.sum(-1).mean()


def aligned_loss(
    model: nn.Module,
    b: Batch,
    mu_c: torch.Tensor,
    lv_c: torch.Tensor,
    recon: Callable[[torch.Tensor, Batch], dict[str, torch.Tensor]],
) -> tuple[torch.Tensor, dict[str, float]]:
    """CktGen's loss (paper eqs. 3–9) around any circuit encoder and decoder.

    ``model`` has ``config`` (w_type … w_align, tau), ``spec_encoder`` and ``guidance``;
    ``recon(z, b2)`` returns the type/pos/size/edge reconstruction losses of ``b2`` (the batch
    twice) from z = [z_c; z_s]: one decoder pass over both latents (2B rows), cheaper than
    two on a CPU. The PACE and CktGNN baselines use it with their own encoder and decoder.
    """
    c = model.config
    classes = b.classes
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
    total = 2 * rec_total + c.w_kl * kl
    if c.w_align:  # 0: the "w/o alignment" ablation
        total = total + c.w_align * (nce + guide + align)
    terms = {"loss": total, "recon": rec_total, "kl": kl, "nce": nce, "guide": guide}
    terms.update(align=align, **{f"rec_{k}": v for k, v in rec.items()})
    return total, {k: float(v.detach()) for k, v in terms.items()}


class CktGen(nn.Module):
    """The full model: circuit encoder, spec encoder, guidance heads and generator."""

    kind = "cktgen"

    def __init__(self, config: CktGenConfig, scheme: SpecScheme, with_encoder: bool = True):
        super().__init__()
        self.config, self.scheme = config, scheme
        self.circuit_encoder = CircuitEncoder.from_config(config) if with_encoder else None
        self.spec_encoder, self.guidance = spec_modules(config, scheme)
        self.generator = CircuitGenerator.from_config(config, config.log_sizes)

    def loss(self, b: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and its named terms (floats) for one batch."""
        c = self.config
        mu_c, lv_c = self.circuit_encoder(b)
        if not c.spec_path:
            return self._vae_loss(b, mu_c, lv_c)
        return aligned_loss(self, b, mu_c, lv_c, self.generator)

    def _vae_loss(self, b: Batch, mu_c, lv_c) -> tuple[torch.Tensor, dict[str, float]]:
        """Circuit VAE only: reconstruction from z_c + w_KL·KL(q_c ‖ N(0, I))."""
        c = self.config
        z_c = mu_c + torch.randn_like(mu_c) * (0.5 * lv_c).exp()
        rec = self.generator(z_c, b)
        recon = weighted_recon(c, rec)
        kl = kl_normal(mu_c, lv_c)
        total = 2 * recon + c.w_kl * kl
        terms = {"loss": total, "recon": recon, "kl": kl, **{f"rec_{k}": v for k, v in rec.items()}}
        return total, {k: float(v.detach()) for k, v in terms.items()}

    @torch.no_grad()
    def decode(
        self, z: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False
    ) -> list[Decoded]:
        """Decode latents z [B, latent] (prior samples for unconditional generation)."""
        return self.generator.sample(z, generator, greedy)

    @torch.no_grad()
    def embed_circuits(self, b: Batch) -> torch.Tensor:
        """μ_c [B, latent] of the circuits (needs the circuit encoder)."""
        if self.circuit_encoder is None:
            raise CktGenError("circuit latents need the circuit encoder (with_encoder=True)")
        return self.circuit_encoder(b)[0]

    @torch.no_grad()
    def embed_specs(self, classes: torch.Tensor) -> torch.Tensor:
        """μ_s [B, latent] of spec classes [B, 3]."""
        return self.spec_encoder(classes)[0]

    @torch.no_grad()
    def encode_specs(
        self,
        classes: torch.Tensor,
        generator: torch.Generator | None = None,
        latent_temperature: float = 1.0,
    ) -> torch.Tensor:
        """z_s = μ_s + latent_temperature·σ_s·ε for spec classes [B, 3] (μ_s at 0)."""
        mu, lv = self.spec_encoder(classes)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        return mu + latent_temperature * eps * (0.5 * lv).exp()

    @torch.no_grad()
    def generate(
        self,
        classes: torch.Tensor,
        generator: torch.Generator | None = None,
        greedy: bool = False,
        rerank: int = 1,
        latent_temperature: float = 1.0,
        temperature: float = 1.0,
    ) -> list[Decoded]:
        """One decoded circuit per row of spec classes [B, 3] (gain, bw, pm).

        ``temperature`` is the decoder's sampling temperature (``CircuitGenerator.sample``);
        ``latent_temperature`` scales the spec latent's noise σ_s·ε. With ``rerank`` K > 1,
        K circuits are decoded per row and the one the classifier-guidance heads (on the
        circuit encoder's μ_c) find most likely to be in the requested class is kept; this
        needs the circuit encoder.
        """
        if rerank <= 1:
            z = self.encode_specs(classes, generator, latent_temperature)
            return self.generator.sample(z, generator, greedy, temperature=temperature)
        if self.circuit_encoder is None:
            raise CktGenError("rerank needs the circuit encoder: load_model(with_encoder=True)")
        rows = classes.repeat_interleave(rerank, 0)
        z = self.encode_specs(rows, generator, latent_temperature)
        decoded = self.generator.sample(z, generator, greedy, temperature=temperature)
        score = self.class_log_prob(decoded, rows).view(-1, rerank)
        pick = score.argmax(1) + torch.arange(len(classes)) * rerank
        return [decoded[i] for i in pick.tolist()]

    @torch.no_grad()
    def class_log_prob(self, decoded: list[Decoded], classes: torch.Tensor) -> torch.Tensor:
        """log p(gain) + log p(bw) + log p(pm) of the given classes [B, 3] for each decoded
        circuit, from the guidance heads on its μ_c; −inf for an invalid decode."""
        probs = self.guidance_probs(decoded)
        out = torch.zeros(len(decoded))
        for k, p in enumerate(probs):
            out += p.gather(1, classes[:, k : k + 1]).squeeze(1).clamp(min=1e-30).log()
        return out

    @torch.no_grad()
    def guidance_probs(self, decoded: list[Decoded]) -> list[torch.Tensor]:
        """Class probabilities of the three guidance heads (gain [B, n_gain], bw, pm) on each
        decoded circuit's μ_c; all zero for an invalid decode. Needs the circuit encoder."""
        import numpy as np

        from ..data.dataset import CircuitDataset
        from ..data.store import unlabelled

        if self.circuit_encoder is None:
            raise CktGenError(
                "guidance scores need the circuit encoder: load_model(with_encoder=True)"
            )
        circuits, keep = [], []
        for i, d in enumerate(decoded):
            try:
                circuits.append(d.to_circuit())
                keep.append(i)
            except CktGenError:
                pass
        out = [torch.zeros(len(decoded), n) for n in self.scheme.n_classes]
        if not circuits:
            return out
        n = len(circuits)
        ds = CircuitDataset(unlabelled(circuits), np.arange(n), self.scheme)
        was_training = self.training
        self.eval()
        mu, _ = self.circuit_encoder(collate(ds.__getitems__(range(n))))
        self.train(was_training)
        for p, head in zip(out, self.guidance):
            p[keep] = torch.softmax(head(mu), -1)
        return out

    @torch.no_grad()
    def reconstruct(self, b: Batch) -> list[Decoded]:
        """Greedy decode of each circuit's posterior mean μ_c."""
        mu_c, _ = self.circuit_encoder(b)
        return self.generator.sample(mu_c, greedy=True)


def stack2(b: Batch) -> Batch:
    """The batch twice (rows B…2B−1 repeat rows 0…B−1), for the fused generator pass."""
    return Batch(
        *(
            torch.cat([t, t]) if k not in ("edge_index", "batch", "filter_mask") else t
            for k, t in zip(Batch._fields, b)
        )
    )
