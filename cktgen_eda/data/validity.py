"""CktGen's graph checks (docs/benchmark.md §5.3): valid DAG, valid circuit, same DAG.

Plain lists/arrays in, bool out (numpy only), so metrics and the model share one definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..subgraphs import INPUT, MAIN_POSITIONS, OUTPUT

Graph = tuple[Sequence[int], Iterable[Any]]  # (types [n], (tail, head) pairs)


def _edge_list(edges: Any) -> list[tuple[int, int]]:
    a = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    return [(int(u), int(v)) for u, v in a]


def is_valid_dag(types: Sequence[int], edges: Iterable[Any]) -> bool:
    """CktGen's ``is_valid_DAG`` (docs/benchmark.md §5.3) on types [n] and (tail, head) pairs.

    Acyclic; exactly one input (type 0) and one output (type 1) vertex; every vertex without
    predecessors is the input and every vertex without successors is the output.
    """
    types = [int(t) for t in np.asarray(types).reshape(-1)]
    n, pairs = len(types), _edge_list(edges)
    if types.count(INPUT) != 1 or types.count(OUTPUT) != 1:
        return False
    if any(not (0 <= u < n and 0 <= v < n) for u, v in pairs):
        return False
    indeg, outdeg = [0] * n, [0] * n
    succ: list[list[int]] = [[] for _ in range(n)]
    for u, v in pairs:
        outdeg[u] += 1
        indeg[v] += 1
        succ[u].append(v)
    if any(indeg[i] == 0 and types[i] != INPUT for i in range(n)):
        return False
    if any(outdeg[i] == 0 and types[i] != OUTPUT for i in range(n)):
        return False
    # Kahn's algorithm: acyclic iff every vertex gets removed.
    left, ready, seen = list(indeg), [i for i in range(n) if indeg[i] == 0], 0
    while ready:
        u = ready.pop()
        seen += 1
        for v in succ[u]:
            left[v] -= 1
            if left[v] == 0:
                ready.append(v)
    return seen == n


def is_valid_circuit(types: Sequence[int], paths: Sequence[int], edges: Iterable[Any]) -> bool:
    """CktGen's ``is_valid_Circuit``: a valid DAG with no type 8/9 vertex on the main path.

    Faithful to CktGen, only the single feedback gm types 8 (+gm−) and 9 (−gm−) are
    rejected at positions 2–4; the other feedback types are not checked there.
    """
    if not is_valid_dag(types, edges):
        return False
    t, p = np.asarray(types).reshape(-1), np.asarray(paths).reshape(-1)
    return not bool((np.isin(p, MAIN_POSITIONS) & np.isin(t, (8, 9))).any())


def same_dag(a: Graph, b: Graph) -> bool:
    """CktGen's ``is_same_DAG`` on ``(types, edges)`` pairs.

    Same vertex count, same type at every index and the same set of predecessors at every
    index; sizes and positions are ignored.
    """
    (ta, ea), (tb, eb) = a, b
    ta, tb = np.asarray(ta).reshape(-1).tolist(), np.asarray(tb).reshape(-1).tolist()
    if ta != tb:
        return False
    return _predecessors(len(ta), ea) == _predecessors(len(tb), eb)


def _predecessors(n: int, edges: Iterable[Any]) -> list[set[int]]:
    pred: list[set[int]] = [set() for _ in range(n)]
    for u, v in _edge_list(edges):
        if 0 <= v < n:
            pred[v].add(u)
    return pred
