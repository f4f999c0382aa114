"""The paper's generation metrics (docs/benchmark.md §5.3-§5.4, paper Appendix C), numpy only.

Sits after the model in the data flow: embeddings (surrogate evaluator outputs) and decoded
graphs in, plain floats out. Graphs are ``(types, edges)`` pairs, the ``Graph`` of
``data/validity.py``; :func:`dag_of` turns a decoded circuit into one. No torch import here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..data.validity import Graph, is_valid_circuit, is_valid_dag, same_dag

_EPS = 1e-12  # norm floor: a zero vector gets cosine 0 with everything instead of NaN


# --- consistency metrics (embeddings) ---------------------------------------------------------


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``a`` with every row of ``b``.

    Shapes:
        a [N, d], b [M, d] -> [N, M]
    """
    a, b = _unit_rows(a), _unit_rows(b)
    return a @ b.T


def retrieval_precision(
    circuit_emb: np.ndarray, spec_emb: np.ndarray, ks: Sequence[int] = (1, 2, 3)
) -> dict[int, float]:
    """Top-k retrieval precision R@k of one round (§5.3; average rounds yourself).

    Row i of the cosine matrix (generated circuit i × all N target specs) ranks its own spec i;
    R@k is the share of rows with rank ≤ k. Tie rule (pessimistic): rank = number of specs
    whose similarity is ≥ that of spec i (spec i included), so a tie never counts as a hit.

    Shapes:
        circuit_emb [N, d], spec_emb [N, d] (row i of each belongs together)
    Returns:
        {k: R@k in [0, 1]} for each k in ``ks``.
    """
    sim = cosine_matrix(*_paired(circuit_emb, spec_emb))
    own = np.diag(sim)[:, None]
    rank = (sim >= own).sum(axis=1)  # [N], 1 = own spec strictly most similar
    return {int(k): float((rank <= k).mean()) for k in ks}


def spec_accuracy(pred: np.ndarray, want: np.ndarray) -> dict[str, float]:
    """Spec-Acc: surrogate classes of generated circuits vs target classes (§5.3).

    Shapes:
        pred [N, 3], want [N, 3]: integer (gain, bw, pm) class ids.
    Returns:
        ``joint`` (all three equal; the paper's Spec-Acc); ``gain``, ``bw``, ``pm`` (each
        attribute on its own); ``cum_gain``, ``cum_gain_bw``, ``cum_gain_bw_pm`` (the code's
        cumulative shares: bw counts only if gain matched, pm only if both did).
    """
    pred, want = _paired(pred, want)
    if pred.shape[1] != 3:
        raise ValueError(f"spec_accuracy needs [N, 3] class ids (found shape {pred.shape})")
    hit = pred == want  # [N, 3]
    cum = np.logical_and.accumulate(hit, axis=1)
    return {
        "joint": float(hit.all(axis=1).mean()),
        "gain": float(hit[:, 0].mean()),
        "bw": float(hit[:, 1].mean()),
        "pm": float(hit[:, 2].mean()),
        "cum_gain": float(cum[:, 0].mean()),
        "cum_gain_bw": float(cum[:, 1].mean()),
        "cum_gain_bw_pm": float(cum[:, 2].mean()),
    }


def mm_distance(circuit_emb: np.ndarray, spec_emb: np.ndarray) -> float:
    """Multimodal distance MM-D: mean of 1 − cos(c_i, s_i) over paired rows (§5.3).

    Shapes:
        circuit_emb [N, d], spec_emb [N, d]
    """
    c, s = _paired(circuit_emb, spec_emb)
    return float(np.mean(1.0 - (_unit_rows(c) * _unit_rows(s)).sum(axis=1)))


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets (§5.3 FID).

    ‖μa − μb‖² + tr(Σa + Σb − 2 (Σa Σb)^½), with unbiased (ddof=1) full covariances. The
    trace of the square root is taken from the eigenvalues of the symmetric PSD matrix
    Σa^½ Σb Σa^½ (same spectrum as Σa Σb), clipped at 0, so the result is real.

    Shapes:
        a [N, d], b [M, d] with N, M ≥ 2.
    """
    a, b = _rows(a, "a"), _rows(b, "b")
    if a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"fid needs [N≥2, d] and [M≥2, d] (found {a.shape} and {b.shape})")
    ca = np.atleast_2d(np.cov(a, rowvar=False))
    cb = np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _psd_sqrt(ca)
    cross = np.linalg.eigvalsh(root_a @ cb @ root_a)
    tr_root = np.sqrt(np.clip(cross, 0.0, None)).sum()
    diff = a.mean(axis=0) - b.mean(axis=0)
    return float(diff @ diff + np.trace(ca) + np.trace(cb) - 2.0 * tr_root)


# --- diversity ---------------------------------------------------------------------------------


def pair_distance(emb: np.ndarray, rng: Any, pairs: int = 100) -> float:
    """Mean L2 distance of ``pairs`` random pairs, the sampler of §5.3.

    Two independent without-replacement draws of ``pairs`` row indices are zipped, so a pair
    may coincide (distance 0). ``rng`` is a ``np.random.Generator`` or a seed.

    Shapes:
        emb [n, d] with n ≥ pairs.
    Raises:
        ValueError: when n < pairs.
    """
    emb = _rows(emb, "emb")
    if len(emb) < pairs or pairs < 1:
        raise ValueError(
            f"pair_distance needs 1 ≤ pairs ≤ rows (found pairs={pairs}, rows={len(emb)})"
        )
    rng = np.random.default_rng(rng)
    i = rng.choice(len(emb), size=pairs, replace=False)
    j = rng.choice(len(emb), size=pairs, replace=False)
    return float(np.linalg.norm(emb[i] - emb[j], axis=1).mean())


def diversity(emb_by_round: np.ndarray, rng: Any, pairs: int = 100) -> dict[str, float]:
    """Inter-D and Intra-D with the PAPER's table meaning (§5.3, Appendix C).

    ``inter_d``: per round, :func:`pair_distance` over the N circuits for N different specs,
    averaged over rounds. ``intra_d``: per spec, :func:`pair_distance` over its R circuits
    from the R rounds, averaged over specs. Inter-D > Intra-D is the desired pattern.
    Note the authors' code names these the other way round (its ``intra_diversity`` is our
    ``inter_d``). With fewer than ``pairs`` rows, ``min(pairs, rows)`` pairs are drawn (the
    code needs > 100). Draw order: all rounds, then all specs, from one ``rng``.

    Shapes:
        emb_by_round [R, N, d]: circuit embedding of round r for spec j.
    """
    emb = np.asarray(emb_by_round, dtype=np.float64)
    if emb.ndim != 3 or min(emb.shape[:2]) < 1:
        raise ValueError(f"diversity needs [R, N, d] embeddings (found shape {emb.shape})")
    rng = np.random.default_rng(rng)
    n_rounds, n_specs = emb.shape[:2]
    across = [pair_distance(emb[r], rng, min(pairs, n_specs)) for r in range(n_rounds)]
    within = [pair_distance(emb[:, j], rng, min(pairs, n_rounds)) for j in range(n_specs)]
    return {"inter_d": float(np.mean(across)), "intra_d": float(np.mean(within))}


# --- graph metrics -----------------------------------------------------------------------------


def dag_of(decoded: Any) -> Graph:
    """``(types, edges)`` of a decoded circuit (duck-typed on ``.types`` and ``.edges``)."""
    types = tuple(int(t) for t in decoded.types)
    return types, tuple((int(u), int(v)) for u, v in decoded.edges)


def validity(decoded: Sequence[Any]) -> float:
    """Share of decoded circuits passing ``is_valid_circuit`` (needs ``.types/.paths/.edges``)."""
    _nonempty(decoded, "validity")
    return float(np.mean([is_valid_circuit(d.types, d.paths, d.edges) for d in decoded]))


def valid_dag_share(dags: Sequence[Graph]) -> float:
    """Share of ``(types, edges)`` graphs passing ``is_valid_dag`` (§5.4 prior validity)."""
    _nonempty(dags, "valid_dag_share")
    return float(np.mean([is_valid_dag(t, e) for t, e in dags]))


def dag_key(dag: Graph) -> tuple:
    """Hashable key with ``key(a) == key(b)`` iff ``same_dag(a, b)``.

    The types tuple and each vertex's in-neighbour set; an edge counts only when its head is
    a vertex index, as in ``same_dag``.
    """
    types, edges = dag
    t = tuple(np.asarray(types).reshape(-1).tolist())
    pred: list[set[int]] = [set() for _ in t]
    for u, v in np.asarray(edges, dtype=np.int64).reshape(-1, 2).tolist():
        if 0 <= v < len(t):
            pred[v].add(u)
    return t, tuple(frozenset(p) for p in pred)


def novelty(valid_dags: Iterable[Graph], train_dags: Iterable[Graph]) -> float:
    """1 − share of the (already filtered) valid DAGs that ``same_dag``-match a training graph.

    Uses :func:`dag_key` set lookups (equivalent to pairwise ``same_dag``). Returns NaN when
    there are no valid DAGs (a model outcome, not a caller error).
    """
    seen = {dag_key(g) for g in train_dags}
    keys = [dag_key(g) for g in valid_dags]
    if not keys:
        return float("nan")
    return 1.0 - sum(k in seen for k in keys) / len(keys)


def recon_accuracy(truth_dags: Sequence[Graph], decoded_dags: Sequence[Graph]) -> float:
    """Share of pairs where the decoded graph ``same_dag``-equals its ground truth (§5.4)."""
    _nonempty(truth_dags, "recon_accuracy")
    if len(truth_dags) != len(decoded_dags):
        raise ValueError(
            f"recon_accuracy needs equal lengths (found {len(truth_dags)} truth, "
            f"{len(decoded_dags)} decoded)"
        )
    return float(np.mean([same_dag(a, b) for a, b in zip(truth_dags, decoded_dags)]))


# --- helpers -----------------------------------------------------------------------------------


def _rows(x: Any, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name} must be a non-empty [N, d] array (found shape {x.shape})")
    return x


def _paired(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or a.shape != b.shape or len(a) == 0:
        raise ValueError(
            f"expected two non-empty [N, d] arrays of one shape (found {a.shape} and {b.shape})"
        )
    return a, b


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), _EPS)


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _nonempty(xs: Sequence[Any], name: str) -> None:
    if len(xs) == 0:
        raise ValueError(f"{name} needs at least one graph (found none)")
