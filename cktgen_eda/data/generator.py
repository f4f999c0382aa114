"""Random OCB-style amplifiers, following the released OCB generator (ocb-format.md §3).

Topology: two or three gm stages on the main path plus up to three side subgraphs; device
values: OCB feature values uniform on {0.0, 0.1, …, 100.0} (continuous variant). Nodes come
out in igraph's FIFO topological order, as in the original pickles. Pure Python, seeded by
the caller's ``random.Random``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..circuit import Circuit, Node, from_graph
from ..subgraphs import ALLOWED_TYPES, SUBGRAPH_TYPES

# Slot existence probabilities of the released generator (ocb-format.md §3.1).
P_STAGE3 = 0.8
P_SIDE = 0.6
P_COMP = 0.6
IN, OUT, S1, S2 = 0, 1, 2, 3  # generator indices before the topological re-indexing


@dataclass(frozen=True)
class Topology:
    """Types, positions and edges in generator index order (before topological sorting)."""

    types: tuple[int, ...]
    positions: tuple[int, ...]
    edges: tuple[tuple[int, int], ...]


def sample_topology(rng: random.Random) -> Topology:
    """Draw one topology with the slot probabilities and endpoint rules of ocb-format.md §3.1."""
    main_types = ALLOWED_TYPES[2]
    types = [0, 1, rng.choice(main_types), rng.choice(main_types)]
    positions = [0, 1, 2, 3]
    three_stage = rng.random() <= P_STAGE3
    edges = [(IN, S1), (S1, S2)]
    if three_stage:
        types.append(rng.choice(main_types))
        positions.append(4)
        s3 = len(types) - 1
        edges += [(S2, s3), (s3, OUT)]
        endpoints = [IN, S1, S2, OUT]
    else:
        edges.append((S2, OUT))
        endpoints = [IN, S1, OUT]
    for pos, p_exist in ((5, P_SIDE), (6, P_COMP), (7, P_SIDE)):
        if rng.random() > p_exist:
            continue
        types.append(rng.choice(ALLOWED_TYPES[pos]))
        positions.append(pos)
        x = len(types) - 1
        if pos == 6:
            tail = S1 if not three_stage or rng.random() < 0.5 else S2
            edges += [(tail, x), (x, OUT)]
        else:
            a, b = rng.sample(endpoints, 2)
            # Out is always the head; otherwise the lower generator index is the tail.
            if a == OUT or (b != OUT and b < a):
                a, b = b, a
            edges += [(a, x), (x, b)]
    return Topology(tuple(types), tuple(positions), tuple(edges))


def sample_values(rng: random.Random, type_id: int) -> tuple[float, ...]:
    """OCB feature values for one subgraph: uniform on {0.0, 0.1, …, 100.0}."""
    return tuple(rng.randint(0, 1000) / 10 for _ in SUBGRAPH_TYPES[type_id].components)


def size_topology(topology: Topology, rng: random.Random, meta: dict | None = None) -> Circuit:
    """Draw device values for a topology and return the circuit in FIFO topological order."""
    nodes = [
        Node.from_ocb(t, p, sample_values(rng, t))
        for t, p in zip(topology.types, topology.positions)
    ]
    return from_graph(nodes, topology.edges, meta=meta)


def sample_circuit(rng: random.Random) -> Circuit:
    """One random OCB-style amplifier (fresh topology, fresh values)."""
    return size_topology(sample_topology(rng), rng)
