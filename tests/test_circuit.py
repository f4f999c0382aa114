"""Circuit model: validation messages, JSON round trips, OCB value conversion, graph views."""

from __future__ import annotations

import json

import pytest
from helpers import random_circuits

from cktgen_eda.circuit import Circuit, Node, fifo_topological_order, from_graph, load_circuit
from cktgen_eda.errors import DAGError
from cktgen_eda.subgraphs import SUBGRAPH_TYPES, subgraph_type


def test_subgraph_table_matches_ocb_naming():
    assert len(SUBGRAPH_TYPES) == 26
    assert subgraph_type(7).name == "-gm+" and subgraph_type(7).gm_sign == -1
    assert subgraph_type(13).name == "C paral -gm-" and subgraph_type(13).feedback
    assert subgraph_type(18).components == ("c", "r", "gm")  # C before R for 18–25
    assert subgraph_type(4).components == ("r", "c") and subgraph_type(4).link == "series"
    assert subgraph_type(24).link == "series" and subgraph_type(24).feedback
    # odd ids ≥ 7 carry a negative gm; 3rd/4th of each group of four are feedback
    for t in SUBGRAPH_TYPES[6:]:
        assert t.gm_sign == (-1 if t.id % 2 else 1)
        assert t.feedback == ((t.id - 6) % 4 >= 2)


def test_json_round_trip_exact_on_1000_random_circuits():
    for c in random_circuits(1000, seed=11):
        text = c.to_json()
        back = Circuit.from_json(text)
        assert back == c
        assert back.to_json() == text


def test_example_format_from_design_doc():
    doc = {
        "format": "cktgen-eda/circuit",
        "version": 1,
        "nodes": [
            {"type": 0, "pos": 0},
            {"type": 6, "pos": 2, "gm": 0.0035},
            {"type": 11, "pos": 3, "c": 3.82e-13, "gm": 0.00028},
            {"type": 5, "pos": 6, "r": 4.0e5, "c": 1.0e-13},
            {"type": 1, "pos": 1},
        ],
        "edges": [[0, 1], [1, 2], [2, 4], [1, 3], [3, 4]],
        "spec": {"gain_db": 120.3, "ugf_hz": 2.1e9, "pm_deg": 61.0},
        "meta": {"source": "cktgen ocb101 v1", "seed": 7},
    }
    c = Circuit.from_dict(doc)
    assert c.to_dict() == doc
    assert c.nodes[2].name == "C paral -gm+"


def test_ocb_value_conversion_is_exact_for_decimal_values():
    nd = Node.from_ocb(22, 5, (38.2, 2.8, 100.0))
    assert (nd.c, nd.r, nd.gm) == (3.82e-13, 280000.0, 0.01)
    assert nd.ocb_values() == (38.2, 2.8, 100.0)
    with pytest.raises(DAGError, match="takes 3 OCB values"):
        Node.from_ocb(22, 5, (1.0,))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["nodes"][1].update(type=8), "feedback type 8 .* main path"),
        (lambda d: d["edges"].append([3, 1]), r"edge \[3, 1\] points backwards"),
        (lambda d: d["edges"].append([1, 1]), "self-loop"),
        (lambda d: d["edges"].append([0, 9]), "outside"),
        (lambda d: d["edges"].append([0, 1]), "appears twice"),
        (lambda d: d["edges"].remove([2, 4]), "node 2 .* does not lead to the output"),
        (lambda d: d["edges"].remove([1, 3]), "node 3 .* not reachable from the input"),
        (lambda d: d["nodes"][1].pop("gm"), "node 1 .* is missing 'gm'"),
        (lambda d: d["nodes"][1].update(r=1.0), "node 1 .* has 'r'"),
        (lambda d: d["nodes"][1].update(gm=-1e-3), "gm must be ≥ 0"),
        (lambda d: d["nodes"][1].update(gm="big"), "must be a finite number"),
        (lambda d: d["nodes"][1].update(colour=1), "unknown key 'colour'"),
        (lambda d: d.update(extra=1), "unknown key 'extra'"),
        (lambda d: d["nodes"][1].update(type=26), "type must be an integer 0–25"),
        (lambda d: d["nodes"][1].update(pos=9), "pos must be 0–7"),
        (lambda d: d["nodes"][1].update(pos=0), "cannot sit at pos 0"),
        (lambda d: d["nodes"][1].update(name="+gm-"), "does not match type 6"),
        (lambda d: d.update(version=2), "unsupported circuit version"),
    ],
)
def test_validation_names_node_or_edge_and_reason(two_stage, mutate, message):
    d = json.loads(two_stage.to_json())
    mutate(d)
    with pytest.raises(DAGError, match=message):
        Circuit.from_dict(d)


def test_name_is_accepted_when_consistent(two_stage):
    d = two_stage.to_dict()
    d["nodes"][1]["name"] = "+gm+"
    assert Circuit.from_dict(d) == two_stage


def test_load_circuit_prefixes_file_name(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DAGError, match="bad.json: not valid JSON"):
        load_circuit(bad)


def test_fifo_topological_order_matches_igraph_example():
    edges = [(0, 2), (2, 3), (3, 4), (4, 1), (0, 5), (5, 3), (2, 6), (6, 1), (2, 7), (7, 1)]
    assert fifo_topological_order(8, edges) == [0, 2, 5, 6, 7, 3, 4, 1]
    with pytest.raises(DAGError, match="cycle"):
        fifo_topological_order(3, [(0, 1), (1, 2), (2, 1)])


def test_from_graph_reorders_generator_indices():
    nodes = [Node(0, 0), Node(1, 1), Node(6, 2, gm=1e-3), Node(7, 3, gm=2e-3), Node(3, 6, c=1e-13)]
    c = from_graph(nodes, [(0, 2), (2, 3), (3, 1), (2, 4), (4, 1)])
    assert [nd.pos for nd in c.nodes] == [0, 2, 3, 6, 1]
    assert c.edges == ((0, 1), (1, 2), (1, 3), (2, 4), (3, 4))


def test_networkx_view(two_stage):
    g = two_stage.to_networkx()
    assert g.number_of_nodes() == 5 and g.number_of_edges() == 5
    assert g.nodes[2]["c"] == 5e-13 and g.nodes[1]["name"] == "+gm+"
