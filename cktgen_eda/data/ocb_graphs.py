"""Per-vertex OCB pickle attributes and the device-level expansion (docs/benchmark.md §2.1, §2.2).

Helper of ``data/ocb.py``: pure Python, no igraph. Given one circuit as raw arrays (types,
positions, OCB values, edges) it returns the attribute lists of the subgraph-level graph
``g_subg`` and the device-level graph ``g_dev`` the original OCB pickles hold, before igraph's
topological re-indexing (``ocb.py`` applies that).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from ..subgraphs import MAIN_POSITIONS, SUBGRAPH_TYPES

# Device-level ("node-level") types (docs/benchmark.md §1.1).
DEVICE_R, DEVICE_C = 0, 1
SUDO_IN, SUDO_OUT = 6, 7
DEVICE_IN, DEVICE_OUT = 8, 9

# Internal adjacency of a subgraph (sudo_in, components…, sudo_out), verbatim from the
# released generator, including the non-symmetric rows (docs/benchmark.md §2.1).
_ADJ_ROWS = {
    ("single", 1): ("010", "101", "010"),
    ("series", 2): ("0100", "1010", "0101", "0010"),
    ("parallel", 2): ("0110", "1001", "0101", "0110"),
    ("series", 3): ("01000", "10100", "01010", "00101", "00010"),
    ("parallel", 3): ("01110", "10001", "01001", "00101", "01110"),
}
SUBG_ADJ = {key: [int(ch) for row in rows for ch in row] for key, rows in _ADJ_ROWS.items()}

# The generator lists a vertex's predecessors as: main-path predecessor, the compensation
# path (pos 6), then the side paths in slot order (pos 5, pos 7) (docs/benchmark.md §3.1).
_PRED_RANK = {0: 0, 2: 1, 3: 2, 4: 3, 6: 4, 5: 5, 7: 6, 1: 7}


@cache
def device_types(type_id: int) -> tuple[int, ...]:
    """Device-level types of a subgraph's components, in OCB value order.

    R = 0, C = 1, a gm cell 2–5 by its subgraph's variant (+gm+, −gm+, +gm−, −gm−);
    the input and output subgraphs are the single devices In = 8 and Out = 9.
    """
    kind = SUBGRAPH_TYPES[type_id]
    if kind.is_port:
        return (DEVICE_IN if type_id == 0 else DEVICE_OUT,)
    gm = 2 + (kind.gm_sign < 0) + 2 * kind.feedback
    return tuple({"r": DEVICE_R, "c": DEVICE_C, "gm": gm}[k] for k in kind.components)


def subgraph_attributes(type_id: int, values: Sequence[float]) -> dict:
    """``subg_ntypes``, ``subg_nfeats``, ``subg_adj``, ``r``, ``c``, ``gm`` of one vertex.

    Args:
        type_id: subgraph type 0–25.
        values: its OCB feature values in the type's component order.
    """
    kind = SUBGRAPH_TYPES[type_id]
    if kind.is_port:
        return {
            "subg_ntypes": list(device_types(type_id)),
            "subg_nfeats": [0.0],
            "subg_adj": [1],
            "r": 0,
            "c": 0,
            "gm": 0,
        }
    values = [float(v) for v in values]
    slots = dict(zip(kind.components, values))
    return {
        "subg_ntypes": [SUDO_IN, *device_types(type_id), SUDO_OUT],
        "subg_nfeats": [-1.0, *values, -1.0],
        "subg_adj": list(SUBG_ADJ[(kind.link, len(values))]),
        # CktGen's integer slots: truncation of the value, 0 when absent (§2.2).
        **{k: int(slots.get(k, 0)) for k in ("r", "c", "gm")},
    }


def predecessor_lists(
    n: int, positions: Sequence[int], edges: Sequence[tuple[int, int]]
) -> list[list[int]]:
    """Each vertex's predecessors in the generator's predecessor-list order (see _PRED_RANK)."""
    preds: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        preds[b].append(a)
    for p in preds:
        p.sort(key=lambda i: (_PRED_RANK.get(positions[i], 8), i))
    return preds


def layout_order(
    types: Sequence[int], positions: Sequence[int], preds: list[list[int]]
) -> list[int]:
    """Subgraph order of the device numbering (docs/benchmark.md §2.1).

    Walk the main path In, stages by position, Out; before each main vertex place its
    not-yet-placed predecessors in predecessor-list order. Generalised for circuits the
    released generator cannot make: placement recurses into unplaced predecessors, and
    vertices off every such walk follow in index order.
    """
    n = len(types)
    placed: list[int] = []
    seen = [False] * n

    def place(v: int) -> None:
        stack = [(v, iter(preds[v]))]
        seen[v] = True
        while stack:
            u, it = stack[-1]
            nxt = next((p for p in it if not seen[p]), None)
            if nxt is None:
                stack.pop()
                placed.append(u)
            else:
                seen[nxt] = True
                stack.append((nxt, iter(preds[nxt])))

    main = [i for i in range(n) if types[i] == 0]
    main += sorted(
        (i for i in range(n) if positions[i] in MAIN_POSITIONS and types[i] > 1),
        key=lambda i: (positions[i], i),
    )
    main += [i for i in range(n) if types[i] == 1]
    for v in main + list(range(n)):
        if not seen[v]:
            place(v)
    return placed


def device_graph(
    types: Sequence[int],
    positions: Sequence[int],
    values: Sequence[Sequence[float]],
    edges: Sequence[tuple[int, int]],
    preds: list[list[int]] | None = None,
) -> tuple[list[int], list[float], list[int], list[list[int]]]:
    """Device-level graph of one circuit, in layout order (before topological re-indexing).

    A subgraph's devices get consecutive ids in layout order. Exit devices: the last device
    of a series subgraph, every device of a parallel one, the only device otherwise. The first
    device of a series subgraph (every device of the others) takes the exit devices of each
    predecessor subgraph, in predecessor-list order; later series devices take the previous one.

    Args:
        types, positions: per subgraph vertex.
        values: per vertex, its OCB values in component order (at least that many).
        edges: subgraph-level edges ``(tail, head)``.
        preds: ``predecessor_lists`` of the circuit, when already computed.

    Returns:
        Device types, features (In/Out 0.0), ``vid`` (the owning subgraph's position, see
        ``ocb.py``) and per-device predecessor lists, all indexed by layout device id.
    """
    n = len(types)
    if preds is None:
        preds = predecessor_lists(n, positions, edges)
    dev_type: list[int] = []
    dev_feat: list[float] = []
    dev_vid: list[int] = []
    dev_pred: list[list[int]] = []
    exits: dict[int, list[int]] = {}
    for s in layout_order(types, positions, preds):
        kind = SUBGRAPH_TYPES[types[s]]
        dtypes = device_types(types[s])
        feats = [0.0] if kind.is_port else [float(v) for v in values[s][: len(dtypes)]]
        start = len(dev_type)
        incoming = [d for p in preds[s] for d in exits[p]]
        for k, (t, f) in enumerate(zip(dtypes, feats)):
            dev_type.append(t)
            dev_feat.append(f)
            dev_vid.append(int(positions[s]))
            series_tail = kind.link == "series" and k > 0
            dev_pred.append([start + k - 1] if series_tail else list(incoming))
        ids = list(range(start, len(dev_type)))
        exits[s] = (
            ids if kind.link == "parallel" else ids[-1:] if kind.link == "series" else ids[:1]
        )
    return dev_type, dev_feat, dev_vid, dev_pred
