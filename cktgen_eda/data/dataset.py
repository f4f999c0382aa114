"""CktGen preprocessing and the torch ``Dataset``/collate the models learn from.

benchmark (``store.Benchmark``) → **clean + tensors** → model. ``clean`` applies CktGen's
``clean_datasets`` (``stats.clean_split``, docs/benchmark.md §5.1) and fixes the class scheme. A
``CircuitDataset`` turns the kept rows into padded tensors once, straight from the
benchmark's CSR arrays, and ``collate`` stacks items into a ``Batch`` (paper §2.1: node types,
positions, device sizes, adjacency, spec classes, FoM, InfoNCE filter mask). The §5.3
validity checks live in ``validity.py`` (plain lists and arrays, no tensors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import CktGenError
from ..subgraphs import N_POSITIONS, N_TYPES, SUBGRAPH_TYPES
from .stats import clean_split
from .store import Benchmark

MAX_N = 8  # vertices per circuit: In, Out, ≤ 3 stages, ≤ 3 side paths (docs/benchmark.md §1.3)
PAD_TYPE = N_TYPES  # 26: padding index of ``types``, never a real type (CktGen pads with 0)
PAD_PATH = N_POSITIONS  # 8: padding index of ``paths``
SLOTS = ("r", "c", "gm")
KEY_BW, KEY_PM = 1000, 1_000_000  # joint key = gain + 1000·bw + 10⁶·pm (CktGen)
# _SLOT_SRC[t, s]: column of node_value holding slot s (r, c, gm) for type t, or -1.
_SLOT_SRC = np.array(
    [[t.components.index(s) if s in t.components else -1 for s in SLOTS] for t in SUBGRAPH_TYPES]
)


def joint_key(gain: Any, bw: Any, pm: Any) -> Any:
    """CktGen's joint spec key ``gain + 1000·bw + 10⁶·pm`` (ints or integer arrays)."""
    return gain + KEY_BW * bw + KEY_PM * pm


def split_key(key: int) -> tuple[int, int, int]:
    """Inverse of ``joint_key`` for non-negative classes: ``(gain, bw, pm)``."""
    return key % KEY_BW, key // KEY_BW % (KEY_PM // KEY_BW), key // KEY_PM


def edge_pairs(max_n: int = MAX_N) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertex pairs ``(i, j)``, ``i < j``, in ``edge_target`` order (row-major over i, then j).

    Shapes:
        rows, cols: [max_n·(max_n−1)/2] long.
    """
    rows, cols = torch.triu_indices(max_n, max_n, offset=1)
    return rows, cols


# ----------------------------------------------------------------------------- cleaning
@dataclass(frozen=True)
class SpecScheme:
    """Class scheme of a cleaned benchmark; stored in model checkpoints (``to_dict``).

    Attributes:
        n_gain, n_bw, n_pm: classes per attribute (max class in the cleaned train split + 1).
        train_keys: sorted joint keys of the train split before the pm filter (the test
            domain); without the invalid rows when ``clean(..., drop_invalid=True)``.
        fom_mean, fom_std: mean and sample std (torch ``std``, as CktGen) of the cleaned train
            split's FoM column, for ``fom_z``.
    """

    n_gain: int
    n_bw: int
    n_pm: int
    train_keys: tuple[int, ...]
    fom_mean: float
    fom_std: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (``train_keys`` as a list)."""
        return {**asdict(self), "train_keys": list(self.train_keys)}

    @classmethod
    def from_dict(cls, d: Any) -> SpecScheme:
        """Inverse of ``to_dict``.

        Raises:
            CktGenError: when a key is missing or unknown.
        """
        names = [f.name for f in fields(cls)]
        if not isinstance(d, dict):
            raise CktGenError(f"spec scheme must be a dict, found {type(d).__name__}")
        for k in [k for k in names if k not in d] + sorted(set(d) - set(names)):
            raise CktGenError(
                f"spec scheme {'is missing' if k in names else 'has unknown key'} {k!r}"
            )
        keys = tuple(int(k) for k in d["train_keys"])
        return cls(*(int(d[k]) for k in names[:3]), keys, float(d["fom_mean"]), float(d["fom_std"]))

    @property
    def n_classes(self) -> tuple[int, int, int]:
        return self.n_gain, self.n_bw, self.n_pm


@dataclass(frozen=True)
class Cleaned:
    """Result of ``clean``: kept benchmark rows, the class scheme and what was dropped.

    Attributes:
        train_rows, test_rows: kept row indices into the benchmark (int64, ascending).
        scheme: the ``SpecScheme`` fixed by the cleaned train split.
        counts: ``train_raw``, ``test_raw``, ``train_kept``, ``test_kept``, ``train_pm``,
            ``test_pm`` (dropped for pm < 0), ``test_domain`` (joint key not in train),
            ``train_invalid``, ``test_invalid`` (dropped by ``drop_invalid``),
            ``train_classes``, ``test_classes`` (distinct joint keys kept).
    """

    train_rows: np.ndarray
    test_rows: np.ndarray
    scheme: SpecScheme
    counts: dict[str, int] = field(default_factory=dict)


def clean(bench: Benchmark, drop_invalid: bool = False) -> Cleaned:
    """CktGen's ``clean_datasets`` on a benchmark (docs/benchmark.md §5.1 step 4).

    Invalid rows carry class (0, 0, 0) and FoM 0, as CktGen's ``add_conditions`` gives them,
    and are kept unless ``drop_invalid``; then they are removed from both splits before the
    training joint keys are counted, so (0, 0, 0) only stays in the domain if a valid train
    circuit has it. The keys are counted on the train rows before the pm filter, as CktGen
    does; pm is the CSV-normalised column (0 for invalid rows).

    Raises:
        CktGenError: when no train row is left.
    """
    valid = np.asarray(bench["valid"], dtype=bool)
    keys = _keys(bench, np.arange(len(bench)))
    pm = np.where(valid, bench["pm"], 0.0)
    train, test = bench.split_rows("train"), bench.split_rows("test")
    counts = {"train_raw": len(train), "test_raw": len(test)}
    for name, rows in (("train", train), ("test", test)):
        counts[f"{name}_invalid"] = int((~valid[rows]).sum()) if drop_invalid else 0
    if drop_invalid:
        train, test = train[valid[train]], test[valid[test]]
    train, test, train_keys, dropped = clean_split(keys, pm, train, test)
    counts.update(dropped)
    if len(train) == 0:
        raise CktGenError(f"benchmark {bench.name!r} has no train row left after cleaning")
    counts.update(
        train_kept=len(train),
        test_kept=len(test),
        train_classes=len(np.unique(keys[train])),
        test_classes=len(np.unique(keys[test])),
    )
    fom = _fom(bench, train)
    scheme = SpecScheme(
        *(int(bench[f"{c}_cls"][train].max()) + 1 for c in ("gain", "bw", "pm")),
        train_keys=tuple(int(k) for k in train_keys),
        fom_mean=float(fom.mean()),
        fom_std=float(fom.std(ddof=1)) if len(fom) > 1 and fom.std() > 0 else 1.0,
    )
    return Cleaned(train.astype(np.int64), test.astype(np.int64), scheme, counts)


def _keys(bench: Benchmark, rows: np.ndarray) -> np.ndarray:
    return joint_key(*(bench[f"{c}_cls"][rows].astype(np.int64) for c in ("gain", "bw", "pm")))


def _fom(bench: Benchmark, rows: np.ndarray) -> np.ndarray:
    """The CSV-normalised FoM, 0 for invalid rows (CktGen's ``add_conditions``)."""
    return np.where(bench["valid"][rows], bench["fom"][rows], 0.0)


# ------------------------------------------------------------------------------ tensors
# One circuit (or a stack of them): the stored ``Batch`` fields, keyed by name, without ``B``.
Item = dict[str, torch.Tensor]
_STORED = ("types", "paths", "n_nodes", "sizes", "node_sizes", "adj")
_STORED += ("gain", "bw", "pm", "fom", "fom_z", "valid", "joint", "rows")


class Batch(NamedTuple):
    """A collated batch of ``B`` circuits with ``N`` vertices and ``E`` edges in total.

    Vertex ``v`` of circuit ``b`` is slot ``[b, v]``; it is real when ``v < n_nodes[b]``.
    Device sizes are the OCB feature values / 100, so 0–1 spans R 0–10 MΩ, C 0–1 pF and
    |gm| 0–10 mS (CktGen fed the raw values, int-truncated in the original pickles).

    Shapes:
        types: [B, max_n] long, subgraph type 0–25, padded with ``PAD_TYPE`` (26).
        types_gt: [B, max_n] long, the same padded with −1 (targets; ignore_index=−1).
        paths: [B, max_n] long, position 0–7, padded with ``PAD_PATH`` (8).
        paths_gt: [B, max_n] long, the same padded with −1.
        n_nodes: [B] long, vertex count (4–max_n).
        mask: [B, max_n] bool, True on real vertices.
        sizes: [B, 24] float, ``[3·pos + {0: r, 1: c, 2: gm}]`` (CktGen's ``v_sizes``).
        node_sizes: [B, max_n, 3] float, (r, c, gm) per vertex, 0 for absent devices/padding.
        adj: [B, max_n, max_n] float, ``adj[b, i, j] = 1`` for edge i → j (i < j).
        edge_target: [B, max_n·(max_n−1)/2] float, ``adj`` at ``edge_pairs(max_n)``.
        edge_mask: [B, max_n·(max_n−1)/2] bool, True where both pair vertices are real.
        edge_index: [2, E] long, PyG layout over the N real vertices (row 0 = tail); the
            flat vertex order is that of ``types[mask]``; edges sorted by (b, i, j).
        batch: [N] long, circuit of each flat vertex.
        gain, bw, pm: [B] long spec classes.
        fom: [B] float, CSV-normalised FoM (0 for invalid rows, as CktGen).
        fom_z: [B] float, ``(fom − fom_mean) / fom_std`` with the train statistics.
        valid: [B] bool, all three measurements exist.
        joint: [B] long, joint key ``gain + 1000·bw + 10⁶·pm``.
        filter_mask: [B, B] float, −inf where i ≠ j share a joint key, else 0 (InfoNCE).
        rows: [B] long, benchmark row of each circuit.
    """

    types: torch.Tensor
    types_gt: torch.Tensor
    paths: torch.Tensor
    paths_gt: torch.Tensor
    n_nodes: torch.Tensor
    mask: torch.Tensor
    sizes: torch.Tensor
    node_sizes: torch.Tensor
    adj: torch.Tensor
    edge_target: torch.Tensor
    edge_mask: torch.Tensor
    edge_index: torch.Tensor
    batch: torch.Tensor
    gain: torch.Tensor
    bw: torch.Tensor
    pm: torch.Tensor
    fom: torch.Tensor
    fom_z: torch.Tensor
    valid: torch.Tensor
    joint: torch.Tensor
    filter_mask: torch.Tensor
    rows: torch.Tensor

    @property
    def classes(self) -> torch.Tensor:
        """The spec classes as the models take them. Shapes: [B, 3] long (gain, bw, pm)."""
        return torch.stack([self.gain, self.bw, self.pm], -1)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """The same batch with every tensor on ``device``."""
        return Batch(*(t.to(device, non_blocking=non_blocking) for t in self))


class CircuitDataset(Dataset):
    """Circuits of ``bench`` at ``rows`` as tensors, built once with numpy from the CSR arrays.

    Args:
        bench: the benchmark.
        rows: benchmark row indices (e.g. ``Cleaned.train_rows``).
        scheme: class counts and FoM statistics (from ``clean`` on the training benchmark).
        max_n: vertex slots per circuit.

    Raises:
        CktGenError: when a circuit has more than ``max_n`` vertices, a repeated position,
            an edge that does not point forward, or a class outside ``scheme``.
    """

    def __init__(
        self, bench: Benchmark, rows: Sequence[int], scheme: SpecScheme, max_n: int = MAX_N
    ) -> None:
        self.scheme, self.max_n = scheme, max_n
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        self.rows = rows
        r = len(rows)
        # Flat vertex v of the selection belongs to item owner[v], slot local[v].
        ptr = bench["node_ptr"]
        start, n = ptr[rows], ptr[rows + 1] - ptr[rows]
        if r and n.max() > max_n:
            i = int(rows[np.argmax(n)])
            raise CktGenError(f"row {i} has {int(n.max())} vertices, max_n is {max_n}")
        owner, local = _ragged(n)
        src = np.repeat(start, n) + local
        t = bench["node_type"][src].astype(np.int64)
        p = bench["node_pos"][src].astype(np.int64)
        slot, count = np.unique(owner * N_POSITIONS + p, return_counts=True)
        if (count > 1).any():
            row, pos = divmod(int(slot[np.argmax(count > 1)]), N_POSITIONS)
            raise CktGenError(f"row {int(rows[row])} has two vertices at position {pos}")
        types = np.full((r, max_n), PAD_TYPE, dtype=np.int64)
        paths = np.full((r, max_n), PAD_PATH, dtype=np.int64)
        types[owner, local], paths[owner, local] = t, p
        col = _SLOT_SRC[t]
        vals = np.take_along_axis(bench["node_value"][src], np.maximum(col, 0), axis=1)
        vals = np.where(col >= 0, vals / 100.0, 0.0)
        node_sizes = np.zeros((r, max_n, 3), dtype=np.float32)
        node_sizes[owner, local] = vals
        sizes = np.zeros((r, N_POSITIONS, 3), dtype=np.float32)
        sizes[owner, p] = vals
        # Edges: local (tail, head); nodes are topologically ordered, so tail < head.
        eptr = bench["edge_ptr"]
        ne = eptr[rows + 1] - eptr[rows]
        eowner, elocal = _ragged(ne)
        e = bench["edges"][np.repeat(eptr[rows], ne) + elocal].astype(np.int64)
        bad = (e[:, 0] >= e[:, 1]) | (e[:, 0] < 0) | (e[:, 1] >= n[eowner])
        if bad.any():
            k = int(np.argmax(bad))
            tail, head = e[k].tolist()
            raise CktGenError(f"row {int(rows[eowner[k]])} edge {tail}->{head} is not forward")
        adj = np.zeros((r, max_n, max_n), dtype=np.float32)
        adj[eowner, e[:, 0], e[:, 1]] = 1.0
        cls = {c: bench[f"{c}_cls"][rows].astype(np.int64) for c in ("gain", "bw", "pm")}
        for c, limit in zip(("gain", "bw", "pm"), scheme.n_classes):
            out = (cls[c] < 0) | (cls[c] >= limit)
            if out.any():
                i = int(np.argmax(out))
                found = int(cls[c][i])
                raise CktGenError(f"row {int(rows[i])}: {c} class {found} not in 0…{limit - 1}")
        fom = _fom(bench, rows)
        arrays = dict(types=types, paths=paths, n_nodes=n, sizes=sizes.reshape(r, 3 * N_POSITIONS))
        arrays.update(node_sizes=node_sizes, adj=adj, **cls, rows=rows.copy())
        arrays.update(fom=fom.astype(np.float32), valid=np.asarray(bench["valid"][rows], bool))
        arrays["fom_z"] = ((fom - scheme.fom_mean) / scheme.fom_std).astype(np.float32)
        arrays["joint"] = joint_key(cls["gain"], cls["bw"], cls["pm"])
        self._t = {k: torch.from_numpy(np.ascontiguousarray(arrays[k])) for k in _STORED}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Item:
        return {k: t[i] for k, t in self._t.items()}

    def __getitems__(self, indices: Sequence[int]) -> Item:
        """Batched fetch used by ``DataLoader``: one stacked dict that ``collate`` takes."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {k: t[idx] for k, t in self._t.items()}

    def all(self) -> Batch:
        """Every circuit as one batch (for evaluation on small sets)."""
        return collate(self.__getitems__(range(len(self))))


def _ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Owner and local index of each element of consecutive runs of the given lengths."""
    owner = np.repeat(np.arange(len(counts)), counts)
    first = np.cumsum(counts) - counts
    return owner, np.arange(int(counts.sum())) - np.repeat(first, counts)


def collate(items: Sequence[Item] | Item) -> Batch:
    """Stack ``CircuitDataset`` items into a ``Batch`` (use as a DataLoader ``collate_fn``).

    Also takes the already stacked dict that ``CircuitDataset.__getitems__`` returns.
    """
    s = (
        items
        if isinstance(items, dict)
        else {k: torch.stack([it[k] for it in items]) for k in _STORED}
    )
    n_nodes, adj, joint = s["n_nodes"], s["adj"], s["joint"]
    b, max_n = s["types"].shape
    mask = torch.arange(max_n) < n_nodes[:, None]  # (B, max_n)
    ii, jj = edge_pairs(max_n)
    flat = torch.cumsum(n_nodes, 0) - n_nodes  # first flat vertex of each circuit
    eb, ei, ej = adj.nonzero(as_tuple=True)  # sorted (b, i, j)
    same = joint[:, None] == joint[None, :]
    same.fill_diagonal_(False)
    return Batch(
        **s,
        types_gt=s["types"].masked_fill(~mask, -1),
        paths_gt=s["paths"].masked_fill(~mask, -1),
        mask=mask,
        edge_target=adj[:, ii, jj],
        edge_mask=jj[None, :] < n_nodes[:, None],
        edge_index=torch.stack([flat[eb] + ei, flat[eb] + ej]),
        batch=torch.repeat_interleave(torch.arange(b), n_nodes),
        filter_mask=torch.zeros(b, b).masked_fill_(same, float("-inf")),
    )


def split_datasets(
    bench: Benchmark, drop_invalid: bool = False, max_n: int = MAX_N
) -> tuple[CircuitDataset, CircuitDataset, Cleaned]:
    """``clean`` the benchmark and wrap its train and test rows: ``(train, test, cleaned)``."""
    cleaned = clean(bench, drop_invalid=drop_invalid)
    return (
        CircuitDataset(bench, cleaned.train_rows, cleaned.scheme, max_n),
        CircuitDataset(bench, cleaned.test_rows, cleaned.scheme, max_n),
        cleaned,
    )
