"""The OCB generator: slot rules, K-reuse, value grid, determinism."""

from __future__ import annotations

import random
from collections import Counter

from cktgen_eda.circuit import fifo_topological_order
from cktgen_eda.data.generator import GeneratorSettings, generate, sample_topology


def test_topologies_follow_the_released_slot_rules():
    rng = random.Random(1)
    stages, slots = Counter(), Counter()
    for _ in range(3000):
        t = sample_topology(rng)
        pos = t.positions
        assert pos[:4] == (0, 1, 2, 3) and len(set(pos)) == len(pos)
        stages[4 in pos] += 1
        slots.update(p for p in pos if p >= 5)
        for i, p in enumerate(pos):
            preds = [a for a, b in t.edges if b == i]
            succs = [b for a, b in t.edges if a == i]
            if p >= 5:  # side subgraphs: one predecessor, one successor
                assert len(preds) == len(succs) == 1
            if p == 6:
                assert succs == [1] and t.types[i] in (2, 3, 4, 5)
            if p in (2, 3, 4):
                assert t.types[i] in (6, 7, 10, 11)
    n = 3000
    assert abs(stages[True] / n - 0.8) < 0.03
    for p in (5, 6, 7):
        assert abs(slots[p] / n - 0.6) < 0.03


def test_reuse_keeps_topology_for_k_circuits_and_values_change():
    rows = list(generate(random.Random(7), 45, reuse=20))
    assert [tid for tid, _ in rows] == [i // 20 for i in range(45)]
    block = [c for tid, c in rows if tid == 0]
    shapes = {(tuple((n.type, n.pos) for n in c.nodes), c.edges) for c in block}
    assert len(shapes) == 1
    assert len({c.nodes for c in block}) == 20  # fresh values for every circuit


def test_values_on_the_grid_within_the_settings_range():
    s = GeneratorSettings(gm_max=60.0)
    for _, c in generate(random.Random(3), 300, reuse=1, settings=s):
        for node in c.nodes:
            for kind, v in zip(node.kind.components, node.ocb_values()):
                assert 0 <= v <= (60 if kind == "gm" else 100)
                assert abs(v * 10 - round(v * 10)) < 1e-9


def test_nodes_in_fifo_topological_order_and_deterministic():
    a = [c for _, c in generate(random.Random(11), 100, reuse=5)]
    b = [c for _, c in generate(random.Random(11), 100, reuse=5)]
    assert a == b
    for c in a:
        assert fifo_topological_order(len(c.nodes), c.edges) == list(range(len(c.nodes)))
        assert c.nodes[0].type == 0 and c.nodes[-1].type == 1
