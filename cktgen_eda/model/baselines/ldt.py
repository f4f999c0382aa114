"""LDT baseline (paper §2.3, Fig. 5(d)): a latent diffusion transformer on a frozen circuit VAE.

The VAE is a ``CktGen`` (its config is stored in ``LDTConfig.vae``) whose weights are frozen
and part of this model's state dict, so a saved LDT is self-contained. The denoiser learns
the distribution of the frozen encoder's μ_c given the spec classes, with the ε-prediction
MSE of DDPM (no alignment losses): μ_c → per-dimension standardisation (training-set
statistics, ``prepare``) → split into ``tokens`` tokens → transformer, with the summed gain,
bw and pm class embeddings and a timestep embedding added to every token. Generation: DDIM
from noise (optionally with classifier-free guidance) → de-standardise → the VAE's
grammar-constrained generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ...data.dataset import Batch, SpecScheme, collate
from ...errors import CktGenError
from ..cktgen import PRESETS as CKTGEN_PRESETS
from ..cktgen import CktGen, CktGenConfig
from ..config import ConfigMixin
from ..encoders import mlp
from ..generator import Decoded


@dataclass(frozen=True)
class LDTConfig(ConfigMixin):
    """Frozen VAE config (a ``CktGenConfig`` dict) and denoiser / diffusion hyper-parameters."""

    vae: dict[str, Any] = field(default_factory=lambda: CKTGEN_PRESETS["cpu"].to_dict())
    tokens: int = 8  # the latent is split into this many tokens of latent / tokens values
    d: int = 128
    layers: int = 4
    heads: int = 4
    ff: int = 512
    dropout: float = 0.0
    steps: int = 1000  # diffusion steps T
    schedule: str = "linear"  # "linear" (β 1e-4 … 0.02, DDPM) or "cosine" (Nichol & Dhariwal)
    sample_steps: int = 50  # DDIM steps
    eta: float = 0.0  # DDIM noise (0: deterministic given the initial noise)
    p_uncond: float = 0.1  # class dropout to the null class in training (for guidance)
    cfg_scale: float = 1.0  # classifier-free guidance scale; 1 = plain conditional sampling

    def __post_init__(self) -> None:
        latent = CktGenConfig.from_dict(self.vae).latent
        if self.tokens < 1 or latent % self.tokens:
            raise CktGenError(
                f"ldt tokens must divide the latent size {latent}, found {self.tokens}"
            )
        if self.schedule not in ("linear", "cosine"):
            raise CktGenError(f"ldt schedule must be 'linear' or 'cosine', found {self.schedule!r}")
        if not 1 <= self.sample_steps <= self.steps:
            raise CktGenError(
                f"ldt sample_steps must be in 1…{self.steps}, found {self.sample_steps}"
            )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LDTConfig:
        d = dict(d)
        if "vae" in d:  # fills defaults and names an unknown VAE key
            d["vae"] = CktGenConfig.from_dict(d["vae"]).to_dict()
        return super().from_dict(d)


PRESETS = {
    "cpu": LDTConfig(),
    "tiny": LDTConfig(
        vae=CKTGEN_PRESETS["tiny"].to_dict(),
        tokens=4,
        d=32,
        layers=1,
        heads=2,
        ff=64,
        steps=100,
        sample_steps=10,
    ),
}


def alphas_cumprod(schedule: str, steps: int) -> torch.Tensor:
    """ᾱ_t for t = 0…T−1 (float64 for the schedule maths, float32 out). Shapes: [T]."""
    if schedule == "linear":
        betas = torch.linspace(1e-4, 0.02, steps, dtype=torch.float64)
        return torch.cumprod(1 - betas, 0).float()
    s = 0.008
    f = torch.cos(
        (torch.arange(steps + 1, dtype=torch.float64) / steps + s) / (1 + s) * math.pi / 2
    )
    f = f**2 / f[0] ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0).float()


def timestep_embedding(t: torch.Tensor, d: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps t [B] → [B, d] (d even)."""
    half = d // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    arg = t.float()[:, None] * freq[None]
    return torch.cat([arg.cos(), arg.sin()], -1)


class Denoiser(nn.Module):
    """ε̂(x_t, t, classes): a transformer over the latent split into tokens."""

    def __init__(self, c: LDTConfig, latent: int, n_classes: tuple[int, int, int]) -> None:
        super().__init__()
        self.tokens, self.d = c.tokens, c.d
        self.null = n_classes  # index of each attribute's null class (guidance)
        self.inp = nn.Linear(latent // c.tokens, c.d)
        self.tok_emb = nn.Parameter(torch.randn(c.tokens, c.d) * 0.02)
        self.time = mlp(c.d, c.d, c.d)
        self.class_embs = nn.ModuleList(nn.Embedding(n + 1, c.d) for n in n_classes)
        layer = nn.TransformerEncoderLayer(
            c.d, c.heads, c.ff, c.dropout, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.d)
        self.out = nn.Linear(c.d, latent // c.tokens)
        nn.init.zeros_(self.out.weight)  # start as ε̂ = 0 (DiT)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Shapes: x [B, latent], t [B] long, classes [B, 3] long → ε̂ [B, latent]."""
        B = x.shape[0]
        cond = self.time(timestep_embedding(t, self.d))
        cond = cond + sum(e(classes[:, k]) for k, e in enumerate(self.class_embs))
        h = self.inp(x.view(B, self.tokens, -1)) + self.tok_emb + cond[:, None]  # (B, K, d)
        return self.out(self.norm(self.transformer(h))).reshape(B, -1)


class LDT(nn.Module):
    """Frozen CktGen VAE + class-conditional latent denoiser."""

    kind: ClassVar[str] = "ldt"

    def __init__(self, config: LDTConfig, scheme: SpecScheme, with_encoder: bool = True):
        super().__init__()
        self.config, self.scheme = config, scheme
        self.vae = CktGen(CktGenConfig.from_dict(config.vae), scheme, with_encoder=with_encoder)
        self.vae.requires_grad_(False)
        self.vae.eval()
        latent = self.vae.config.latent
        self.denoiser = Denoiser(config, latent, scheme.n_classes)
        self.register_buffer("alphas_cumprod", alphas_cumprod(config.schedule, config.steps), False)
        self.register_buffer("latent_mean", torch.zeros(latent))
        self.register_buffer("latent_std", torch.ones(latent))
        self.register_buffer("latent_ready", torch.tensor(False))

    def train(self, mode: bool = True) -> LDT:
        """Train the denoiser; the VAE stays in eval mode (no dropout in μ_c, frozen)."""
        super().train(mode)
        self.vae.eval()
        return self

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As ``nn.Module``'s, skipping the VAE encoder's weights when built without it."""
        if self.vae.circuit_encoder is None:
            skip = "vae.circuit_encoder."
            state_dict = {k: v for k, v in state_dict.items() if not k.startswith(skip)}
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    @classmethod
    def from_vae(
        cls,
        vae_checkpoint_path: str | Path,
        scheme: SpecScheme | None = None,
        with_encoder: bool = True,
        **denoiser_overrides: Any,
    ) -> LDT:
        """An LDT on the CktGen VAE of a checkpoint (its weights loaded, frozen).

        ``scheme`` defaults to the checkpoint's; ``denoiser_overrides`` are ``LDTConfig``
        fields (default: the ``cpu`` preset's denoiser).

        Raises:
            CktGenError: when the file is not a CktGen checkpoint or the scheme's class
                counts differ from the checkpoint's.
        """
        from ...training.checkpoint import read_checkpoint

        state = read_checkpoint(vae_checkpoint_path)
        vae_config = CktGenConfig.from_dict(state["config"])
        saved = SpecScheme.from_dict(state["scheme"])
        scheme = scheme or saved
        if scheme.n_classes != saved.n_classes:
            raise CktGenError(
                f"{vae_checkpoint_path}: VAE has {saved.n_classes} classes, scheme has "
                f"{scheme.n_classes}"
            )
        config = replace(LDTConfig(vae=vae_config.to_dict()), **denoiser_overrides)
        model = cls(config, scheme, with_encoder=with_encoder)
        weights = state["model"]
        if not with_encoder:
            weights = {k: v for k, v in weights.items() if not k.startswith("circuit_encoder.")}
        model.vae.load_state_dict(weights)
        return model

    # ----------------------------------------------------------- latent space
    def _mu(self, b: Batch) -> torch.Tensor:
        if self.vae.circuit_encoder is None:
            raise CktGenError("this needs the VAE's circuit encoder: build with with_encoder=True")
        with torch.no_grad():
            return self.vae.circuit_encoder(b)[0]

    def set_latent_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-dimension mean and std [latent] of μ_c used to standardise the latents."""
        self.latent_mean.copy_(mean)
        self.latent_std.copy_(std.clamp(min=1e-4))
        self.latent_ready.fill_(True)

    @torch.no_grad()
    def prepare(self, ds, batch_size: int = 512) -> None:
        """Set the latent statistics from the frozen encoder's μ_c over dataset ``ds`` (a
        ``CircuitDataset``), unless they are set (e.g. loaded from a checkpoint)."""
        if bool(self.latent_ready):
            return
        dev = self.latent_mean.device
        mus = [
            self._mu(collate(ds.__getitems__(range(i, min(i + batch_size, len(ds))))).to(dev))
            for i in range(0, len(ds), batch_size)
        ]
        mu = torch.cat(mus)
        self.set_latent_stats(mu.mean(0), mu.std(0) if len(mu) > 1 else torch.ones_like(mu[0]))

    def _check_ready(self) -> None:
        if not bool(self.latent_ready):
            raise CktGenError("LDT latent statistics are unset: call prepare(train_dataset)")

    # ---------------------------------------------------------------- training
    def loss(self, b: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """ε-prediction MSE at a uniform random timestep (the denoiser's only loss)."""
        self._check_ready()
        x0 = (self._mu(b) - self.latent_mean) / self.latent_std
        t = torch.randint(0, self.config.steps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        a = self.alphas_cumprod[t][:, None]
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
        classes = b.classes
        drop = torch.rand(classes.shape[0], device=x0.device) < self.config.p_uncond
        null = torch.tensor(self.denoiser.null, device=x0.device)
        classes = torch.where(drop[:, None], null, classes)
        mse = F.mse_loss(self.denoiser(x_t, t, classes), noise)
        return mse, {"loss": float(mse.detach()), "mse": float(mse.detach())}

    # -------------------------------------------------------------- generation
    @torch.no_grad()
    def sample_latents(
        self,
        classes: torch.Tensor | None,
        n: int | None = None,
        generator: torch.Generator | None = None,
        cfg_scale: float | None = None,
    ) -> torch.Tensor:
        """DDIM latents z [B, latent] (VAE units) for spec classes [B, 3]; with classes None,
        ``n`` unconditional ones (the null class, learned through ``p_uncond``)."""
        self._check_ready()
        c, dev = self.config, self.latent_mean.device
        null = torch.tensor(self.denoiser.null, device=dev)
        if classes is None:
            classes = null.expand(n, 3)
        classes = classes.to(dev)
        B, scale = len(classes), c.cfg_scale if cfg_scale is None else cfg_scale
        x = torch.randn(B, len(self.latent_mean), generator=generator, device=dev)
        ab = self.alphas_cumprod
        ts = torch.linspace(c.steps - 1, 0, c.sample_steps, device=dev).round().long()
        for i, t in enumerate(ts.tolist()):
            tt = torch.full((B,), t, dtype=torch.long, device=dev)
            if scale == 1.0:
                eps = self.denoiser(x, tt, classes)
            else:  # one pass over conditional and unconditional rows
                both = self.denoiser(
                    torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([classes, null.expand(B, 3)])
                )
                eps_c, eps_u = both.chunk(2)
                eps = eps_u + scale * (eps_c - eps_u)
            a_t = ab[t]
            a_prev = ab[ts[i + 1]] if i + 1 < len(ts) else torch.ones((), device=dev)
            x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
            sigma = c.eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
            x = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps
            if c.eta > 0 and i + 1 < len(ts):
                x = x + sigma * torch.randn(x.shape, generator=generator, device=dev)
        return x * self.latent_std + self.latent_mean

    @torch.no_grad()
    def generate(
        self,
        classes: torch.Tensor,
        generator: torch.Generator | None = None,
        greedy: bool = False,
        cfg_scale: float | None = None,
    ) -> list[Decoded]:
        """One decoded circuit per row of spec classes [B, 3] (gain, bw, pm)."""
        z = self.sample_latents(classes, generator=generator, cfg_scale=cfg_scale)
        return self.vae.generator.sample(z, generator, greedy)

    @torch.no_grad()
    def decode(
        self, z: torch.Tensor, generator: torch.Generator | None = None, greedy: bool = False
    ) -> list[Decoded]:
        """Decode VAE latents z [B, latent] with the frozen generator."""
        return self.vae.generator.sample(z, generator, greedy)

    @torch.no_grad()
    def reconstruct(self, b: Batch) -> list[Decoded]:
        """The frozen VAE's greedy decode of μ_c."""
        return self.vae.generator.sample(self._mu(b), greedy=True)

    @torch.no_grad()
    def embed_circuits(self, b: Batch) -> torch.Tensor:
        """The frozen encoder's μ_c [B, latent] (VAE units, not standardised)."""
        return self._mu(b)

    def embed_specs(self, classes: torch.Tensor) -> None:
        """None: the denoiser has no spec latent (paper Fig. 6(d) shows circuit latents only)."""
        return None
