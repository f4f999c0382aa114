"""Signal-flow placement of a circuit's testbench, shared by every drawing of it.

circuit → testbench → **layout** → KiCad schematic / SVG diagram. The main path reads left to
right: column 0 is the input net ``in``, column k the net that main stage k drives (the last
one is ``out``), and stage k sits between columns k−1 and k. Side subgraphs (positions 5–7)
connect two of those nets: feed-forward ones are drawn above the chain, feedback ones below,
each in a lane (1 = nearest the chain) chosen so that no two paths of one side overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..circuit import Circuit
from .testbench import IN_NET, OUT_NET, main_chain


@dataclass(frozen=True)
class SidePath:
    """One side subgraph: from net column ``start`` to ``end`` (``start < end``).

    Attributes:
        node: index of the circuit node.
        start, end: columns of the two nets it joins, left one first.
        above: True for a feed-forward path (drawn above the chain), False for feedback.
        lane: 1 for the lane nearest the chain, then 2, 3, …
    """

    node: int
    start: int
    end: int
    above: bool
    lane: int


@dataclass(frozen=True)
class Layout:
    """Where everything of one circuit goes, in grid units (columns and lanes).

    Attributes:
        stages: main-stage node indices in signal order; stage k (1-based) spans
            columns k−1 → k.
        nets: net name of each column (``in``, ``n1``, …, ``out``).
        sides: the side paths.
    """

    stages: tuple[int, ...]
    nets: tuple[str, ...]
    sides: tuple[SidePath, ...]

    @property
    def columns(self) -> int:
        return len(self.nets)

    def lanes(self, above: bool) -> int:
        """How many lanes the side paths of one side use (0 when there are none)."""
        return max((s.lane for s in self.sides if s.above == above), default=0)


def layout(circuit: Circuit) -> Layout:
    """Place a valid OCB-style circuit (see ``testbench.main_chain``).

    Raises:
        DAGError, NetlistError: when the circuit is not a valid OCB-style amplifier.
    """
    circuit.validate()
    chain = main_chain(circuit)
    stages = tuple(chain[1:-1])
    column = {chain[0]: 0, chain[-1]: len(stages)}
    column.update({node: k for k, node in enumerate(stages, start=1)})
    nets = (IN_NET, *(f"n{k}" for k in range(1, len(stages))), OUT_NET)
    paths = []
    for i, node in enumerate(circuit.nodes):
        if i in column:
            continue
        (a,), (b,) = circuit.predecessors(i), circuit.successors(i)  # checked by main_chain
        start, end = sorted((column[a], column[b]))
        paths.append((i, start, end, not node.kind.feedback))
    return Layout(stages, nets, tuple(_lanes(paths)))


def _lanes(paths: list[tuple[int, int, int, bool]]) -> list[SidePath]:
    """Give each path the nearest lane of its side free over its whole span.

    Shorter paths go nearer the chain, so a long path bridges over the short ones it spans.
    """
    placed: list[SidePath] = []
    for node, start, end, above in sorted(paths, key=lambda p: (p[2] - p[1], p[1], p[0])):
        lane = 1
        while any(
            s.above == above and s.lane == lane and s.start < end and start < s.end for s in placed
        ):
            lane += 1
        placed.append(SidePath(node, start, end, above, lane))
    return sorted(placed, key=lambda s: s.node)
