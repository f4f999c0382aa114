"""Random OCB-style amplifiers, following the released OCB generator (docs/benchmark.md §3).

First step of the dataset chain (generator → Circuit → ngspice → labels). Topology: two or
three gm stages on the main path plus up to three side subgraphs; device values: OCB feature
values on a 0.1 grid (continuous variant). A topology is reused for ``reuse`` consecutive
circuits (the generator's K, §3.2). Nodes come out in igraph's FIFO topological order, as in
the original pickles. Pure Python, seeded by the caller's ``random.Random``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from ..circuit import Circuit, Node, from_graph
from ..subgraphs import ALLOWED_TYPES, SUBGRAPH_TYPES

IN, OUT, S1, S2 = 0, 1, 2, 3  # generator indices before the topological re-indexing


@dataclass(frozen=True)
class GeneratorSettings:
    """Knobs of the released generator; the defaults are its values (docs/benchmark.md §3.1, §3.3).

    Attributes:
        p_stage3: probability of a third main stage.
        p_side: probability of each random side path (positions 5 and 7).
        p_comp: probability of the passive compensation path (position 6).
        r_max, c_max, gm_max: largest OCB feature value per component kind (values are drawn
            uniformly on the 0.1 grid 0.0 … max; 100 = 10 MΩ, 1 pF, 10 mS).
    """

    p_stage3: float = 0.8
    p_side: float = 0.6
    p_comp: float = 0.6
    r_max: float = 100.0
    c_max: float = 100.0
    gm_max: float = 100.0

    def value_max(self, kind: str) -> float:
        return {"r": self.r_max, "c": self.c_max, "gm": self.gm_max}[kind]


DEFAULT_SETTINGS = GeneratorSettings()


@dataclass(frozen=True)
class Topology:
    """Types, positions and edges in generator index order (before topological sorting)."""

    types: tuple[int, ...]
    positions: tuple[int, ...]
    edges: tuple[tuple[int, int], ...]


def sample_topology(rng: random.Random, settings: GeneratorSettings = DEFAULT_SETTINGS) -> Topology:
    """Draw one topology: the slot probabilities and endpoint rules of docs/benchmark.md §3.1."""
    main_types = ALLOWED_TYPES[2]
    types = [0, 1, rng.choice(main_types), rng.choice(main_types)]
    positions = [0, 1, 2, 3]
    three_stage = rng.random() <= settings.p_stage3
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
    for pos, p_exist in ((5, settings.p_side), (6, settings.p_comp), (7, settings.p_side)):
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


def sample_values(
    rng: random.Random, type_id: int, settings: GeneratorSettings = DEFAULT_SETTINGS
) -> tuple[float, ...]:
    """OCB feature values for one subgraph: uniform on the 0.1 grid {0.0, 0.1, …, max}."""
    return tuple(
        rng.randint(0, round(settings.value_max(kind) * 10)) / 10
        for kind in SUBGRAPH_TYPES[type_id].components
    )


def size_topology(
    topology: Topology,
    rng: random.Random,
    settings: GeneratorSettings = DEFAULT_SETTINGS,
    meta: dict | None = None,
) -> Circuit:
    """Draw device values for a topology and return the circuit in FIFO topological order."""
    nodes = [
        Node.from_ocb(t, p, sample_values(rng, t, settings))
        for t, p in zip(topology.types, topology.positions)
    ]
    return from_graph(nodes, topology.edges, meta=meta)


def sample_circuit(rng: random.Random, settings: GeneratorSettings = DEFAULT_SETTINGS) -> Circuit:
    """One random OCB-style amplifier (fresh topology, fresh values)."""
    return size_topology(sample_topology(rng, settings), rng, settings)


def generate(
    rng: random.Random, n: int, reuse: int = 20, settings: GeneratorSettings = DEFAULT_SETTINGS
) -> Iterator[tuple[int, Circuit]]:
    """Yield ``(topology_id, circuit)`` for ``n`` circuits, drawing a new topology every ``reuse``.

    As the released generator does (docs/benchmark.md §3.2): the topology is re-drawn when the
    running counter is a multiple of ``reuse``; the circuits in between get fresh values only.
    """
    if reuse < 1:
        raise ValueError(f"reuse must be >= 1, found {reuse}")
    topology = None
    for i in range(n):
        if i % reuse == 0:
            topology = sample_topology(rng, settings)
        yield i // reuse, size_topology(topology, rng, settings)
