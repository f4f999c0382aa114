"""Property-based robustness: random and mutated inputs load or fail with our own errors.

Each property runs ≥ 1,000 examples; any exception other than ``CktGenError`` fails it.
"""

from __future__ import annotations

import copy
import json
import random

from helpers import random_circuits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spectre_writer import write_spectre

from cktgen_eda.circuit import Circuit
from cktgen_eda.errors import CktGenError
from cktgen_eda.netlist.deck import prepare_deck
from cktgen_eda.netlist.spice import parse_spice, write_spice

SEEDS = random_circuits(40, seed=99)
RUNS = settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 30)
    | st.floats(allow_nan=True)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=8,
)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _mutate_doc(doc, rng: random.Random, value):
    paths = [p for p in _paths(doc) if p]
    path = rng.choice(paths)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    action = rng.randrange(3)
    if action == 0:
        parent[path[-1]] = value
    elif action == 1 and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == 1:
        parent.pop(path[-1])
    elif isinstance(parent, dict):
        parent[str(value)[:4]] = value
    else:
        parent.append(value)
    return doc


def _mutate_text(text: str, rng: random.Random, junk: str) -> str:
    action = rng.randrange(5)
    i = rng.randrange(len(text) + 1)
    lines = text.splitlines(keepends=True)
    if action == 0:
        return text[:i] + junk + text[i:]
    if action == 1:
        return text[:i] + text[i + rng.randint(1, 20) :]
    if action == 2 and lines:
        del lines[rng.randrange(len(lines))]
        return "".join(lines)
    if action == 3 and lines:
        k = rng.randrange(len(lines))
        words = lines[k].split()
        if words:
            words[rng.randrange(len(words))] = junk
        lines[k] = " ".join(words) + "\n"
        return "".join(lines)
    return text[:i]


def _loads_or_library_error(fn, *args):
    try:
        fn(*args)
    except CktGenError:
        pass


@RUNS
@given(seed=st.integers(0, 2**32 - 1), value=json_values, n=st.integers(1, 3))
def test_mutated_circuit_json(seed, value, n):
    rng = random.Random(seed)
    doc = json.loads(rng.choice(SEEDS).to_json())
    for _ in range(n):
        doc = _mutate_doc(doc, rng, copy.deepcopy(value))
    try:
        circuit = Circuit.from_json(json.dumps(doc))
        write_spice(circuit)
    except CktGenError:
        pass


@RUNS
@given(text=st.text(max_size=200))
def test_random_text_as_json_and_netlist(text):
    _loads_or_library_error(Circuit.from_json, text)
    _loads_or_library_error(parse_spice, text)
    _loads_or_library_error(prepare_deck, text)


@RUNS
@given(seed=st.integers(0, 2**32 - 1), junk=st.text(max_size=12), n=st.integers(1, 3))
def test_mutated_decks(seed, junk, n):
    rng = random.Random(seed)
    circuit = rng.choice(SEEDS)
    text = write_spice(circuit) if rng.random() < 0.5 else write_spectre(circuit)
    for _ in range(n):
        text = _mutate_text(text, rng, junk)
    _loads_or_library_error(parse_spice, text)
    _loads_or_library_error(prepare_deck, text)
