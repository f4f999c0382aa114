"""Data-parallel training under ``torchrun``: process group, batch shards and reductions.

train.py's loop runs unchanged in one process. Started by ``torchrun`` (``WORLD_SIZE`` > 1 in
the environment, with ``RANK`` and ``LOCAL_RANK``), it gets a ``Parallel`` from ``session``:

- the process group: gloo on the CPU, nccl when training on CUDA (each rank on the GPU
  ``LOCAL_RANK``), with a timeout on every collective (``CKTGEN_EDA_DDP_TIMEOUT_S``, default
  1800 s) so that a lost rank ends the others with an error instead of a hang;
- the model wrapped in ``DistributedDataParallel``, so gradients are averaged across ranks;
- each global batch (``batch_size`` per rank × ``WORLD_SIZE``, in the one-process shuffle
  order) cut into contiguous per-rank shards, each loss weighted by its shard's share, so the
  averaged gradient of per-sample-mean losses is the one-process gradient of that batch;
- the epoch's loss terms summed over ranks (each weighted by its shard's share), the epoch's
  seconds as the slowest rank's, and a check that every rank holds the same weights.

docs/scaling.md ("Distributed training") explains what runs where and what this does
not make equal.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..errors import CktGenError

TIMEOUT_ENV = "CKTGEN_EDA_DDP_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 1800.0  # rank 0 validates (ngspice) while the others wait at a barrier
# Rank r > 0 reseeds its global RNG (dropout, VAE noise) with seed + r · RANK_SEED_STRIDE, so
# that ranks draw independent noise; rank 0 keeps the one-process stream.
RANK_SEED_STRIDE = 1_000_003


def world_size() -> int:
    """Processes in the run: ``WORLD_SIZE`` from torchrun's environment, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def rank() -> int:
    """This process's rank (``RANK`` from torchrun's environment, else 0)."""
    return int(os.environ.get("RANK", "0") or 0)


class _Loss(nn.Module):
    """``model.loss`` as ``forward``, which is what DistributedDataParallel hooks into."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch) -> tuple[torch.Tensor, dict[str, float]]:
        return self.model.loss(batch)


class Parallel:
    """This process's place in the run; a single process gets the inert default."""

    def __init__(self, rank: int = 0, world: int = 1, local_rank: int = 0) -> None:
        self.rank, self.world, self.local_rank = rank, world, local_rank

    @property
    def main(self) -> bool:
        """Rank 0: the one that validates, logs, writes checkpoints and shows progress."""
        return self.rank == 0

    def device(self, name: str) -> torch.device:
        """The training device: ``name``, or under torchrun on CUDA the GPU ``LOCAL_RANK``."""
        dev = _device(name)
        if self.world > 1 and dev.type == "cuda":
            dev = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(dev)
        return dev

    def threads(self, total: int) -> int:
        """CPU threads for this process: ``total`` shared among the ranks of this node."""
        local = int(os.environ.get("LOCAL_WORLD_SIZE", self.world)) if self.world > 1 else 1
        return max(1, total // max(1, local))

    def seed(self, seed: int) -> None:
        """Give ranks > 0 their own global RNG stream (rank 0 keeps ``seed``'s)."""
        if self.rank:
            torch.manual_seed(seed + RANK_SEED_STRIDE * self.rank)

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (e.g. whether there is a run to resume)."""
        if self.world == 1:
            return flag
        t = torch.tensor([int(flag)], device=self._comm_device())
        dist.broadcast(t, src=0)
        return bool(t.item())

    def wrap(self, model: nn.Module) -> Callable[[Any], tuple[torch.Tensor, dict[str, float]]]:
        """The loss function to train with: ``model.loss``, or its DDP-wrapped forward.

        ``static_graph``: the parameters a model uses are the same every step, but some
        models leave some without a gradient (CktGen's ``recon`` preset has no spec path);
        a static graph handles those without searching the graph every step. DDP also
        broadcasts rank 0's weights and buffers, so ranks start equal even from unseeded
        initialisations.
        """
        if self.world == 1:
            return model.loss
        dev = next(model.parameters()).device
        ids = [dev] if dev.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(_Loss(model), device_ids=ids, static_graph=True)

    def shard(self, idx: list[int]) -> tuple[list[int], float]:
        """This rank's contiguous share of the global batch ``idx`` and its loss weight.

        The weight n_r·N/n makes the rank-averaged gradient Σ n_r/n · ∇L_r, the gradient of
        the per-sample mean over the whole batch even when the last batch splits unevenly.
        A rank left without rows repeats the first one with weight 0.
        """
        if self.world == 1:
            return idx, 1.0
        n = len(idx)
        lo, hi = n * self.rank // self.world, n * (self.rank + 1) // self.world
        if hi == lo:
            return idx[:1], 0.0
        return idx[lo:hi], (hi - lo) * self.world / n

    def epoch_end(
        self, sums: dict[str, float], seconds: float, model: nn.Module
    ) -> tuple[dict[str, float], float, dict[str, Any]]:
        """Sum the weighted loss terms over ranks; the slowest rank's seconds; check weights.

        Returns the reduced sums, the seconds and the row entries ``world_size`` and
        ``ranks_agree`` (empty for one process).

        Raises:
            CktGenError: when the ranks' weights and buffers differ (the run is broken).
        """
        if self.world == 1:
            return sums, seconds, {}
        dev = self._comm_device()
        keys = list(sums)  # the model's order of terms, the same on every rank
        total = torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=dev)
        dist.all_reduce(total)
        digest = _state_digest(model)
        # One MAX reduction gives the slowest rank's time and the max and min of the digests.
        ints = torch.tensor([round(seconds * 1e6), digest, -digest], device=dev)
        dist.all_reduce(ints, op=dist.ReduceOp.MAX)
        agree = int(ints[1]) == -int(ints[2])
        if not agree:
            raise CktGenError(f"rank {self.rank}: the ranks' weights differ after an epoch")
        row = {"world_size": self.world, "ranks_agree": agree}
        return dict(zip(keys, total.tolist())), int(ints[0]) / 1e6, row

    def barrier(self) -> None:
        """Wait for every rank (e.g. while rank 0 validates and writes)."""
        if self.world > 1:
            dist.barrier()

    def _comm_device(self) -> torch.device:
        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


def _device(name: str) -> torch.device:
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise CktGenError(f"unknown torch device {name!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CktGenError(f"device {name!r}: this torch sees no CUDA GPU")
    return dev


def _state_digest(model: nn.Module) -> int:
    """A signed 63-bit digest of every weight and buffer's bytes, in name order."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return int.from_bytes(h.digest()[:8], "little") >> 1


@contextmanager
def session(device: str) -> Iterator[Parallel]:
    """This process's ``Parallel``: inert in one process; under torchrun the process group.

    A group that someone else initialised is used and left open; one started here is
    destroyed on the way out, also after an error.
    """
    world = world_size()
    if world == 1:
        yield Parallel()
        return
    if not dist.is_available():
        raise CktGenError("torchrun started this run, but this torch has no torch.distributed")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    owns = not dist.is_initialized()
    if owns:
        cuda = _device(device).type == "cuda"
        if cuda:
            torch.cuda.set_device(local)
        timeout = timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timeout)
    try:
        yield Parallel(dist.get_rank(), dist.get_world_size(), local)
    finally:
        if owns:
            dist.destroy_process_group()
