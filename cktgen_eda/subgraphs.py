"""The 26 OCB subgraph types (docs/benchmark.md §1.1) and the 8 positions (§1.2).

A subgraph is one vertex of the circuit DAG: a small two-terminal (IN, OUT) block made of
R, C and at most one transconductance (gm) cell. This table is the single source of truth
for what each type contains; the netlist, KiCad and dataset code all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import DAGError

# Device scale of the OCB feature value v (docs/benchmark.md §4.1): R = 0.1·v MΩ, C = 10·v fF,
# |gm| = 0.1·v mS. So v ∈ [0, 100] spans R 0–10 MΩ, C 0–1 pF, |gm| 0–10 mS.
# Stored as decimal exponents so conversions go through decimal text and stay clean
# (v = 16.9 gives gm = 0.00169 S, not 0.0016899999999999999).
OCB_EXPONENT = {"r": 5, "c": -14, "gm": -4}
OCB_SCALE = {k: 10.0**e for k, e in OCB_EXPONENT.items()}

# Fixed load every gm cell drives at its OUT pin (docs/benchmark.md §4.1).
GM_LOAD_R_OHM = 1e6
GM_LOAD_C_F = 50e-15

INPUT, OUTPUT = 0, 1
N_TYPES = 26
N_POSITIONS = 8
MAIN_POSITIONS = (2, 3, 4)
SIDE_POSITIONS = (5, 6, 7)
POSITION_NAMES = {
    0: "input",
    1: "output",
    2: "stage 1",
    3: "stage 2",
    4: "stage 3",
    5: "side path A",
    6: "compensation",
    7: "side path B",
}


@dataclass(frozen=True)
class SubgraphType:
    """One OCB subgraph type.

    Attributes:
        id: 0–25.
        name: CktGNN label, e.g. ``"R paral -gm+"``.
        components: device slots in OCB value order, drawn from ``"r"``, ``"c"``, ``"gm"``.
        link: ``"series"``, ``"parallel"``, ``"single"`` or ``"port"`` (input/output).
        feedback: True when the simulator swaps IN and OUT (direction ``−``).
        gm_sign: +1 or −1 for types with a gm cell, 0 otherwise.
    """

    id: int
    name: str
    components: tuple[str, ...]
    link: str
    feedback: bool
    gm_sign: int

    @property
    def has_gm(self) -> bool:
        return "gm" in self.components

    @property
    def is_port(self) -> bool:
        return self.link == "port"


def _build_table() -> tuple[SubgraphType, ...]:
    table = [
        SubgraphType(0, "input", (), "port", False, 0),
        SubgraphType(1, "output", (), "port", False, 0),
        SubgraphType(2, "R", ("r",), "single", False, 0),
        SubgraphType(3, "C", ("c",), "single", False, 0),
        SubgraphType(4, "R serie C", ("r", "c"), "series", False, 0),
        SubgraphType(5, "R paral C", ("r", "c"), "parallel", False, 0),
    ]
    # Each gm group of four runs (+gm+, -gm+, +gm-, -gm-): sign first, direction second.
    variants = (("+gm+", 1, False), ("-gm+", -1, False), ("+gm-", 1, True), ("-gm-", -1, True))
    groups = (
        ("{}", ("gm",), "single"),
        ("C paral {}", ("c", "gm"), "parallel"),
        ("R paral {}", ("r", "gm"), "parallel"),
        # For 18–25 the OCB value order is C before R (docs/benchmark.md §1.1).
        ("R paral C paral {}", ("c", "r", "gm"), "parallel"),
        ("R serie C serie {}", ("c", "r", "gm"), "series"),
    )
    for pattern, components, link in groups:
        for label, sign, feedback in variants:
            table.append(
                SubgraphType(len(table), pattern.format(label), components, link, feedback, sign)
            )
    return tuple(table)


SUBGRAPH_TYPES: tuple[SubgraphType, ...] = _build_table()
TYPE_BY_NAME = {t.name: t for t in SUBGRAPH_TYPES}
# Types the released OCB generator allows at each position (docs/benchmark.md §1.2).
ALLOWED_TYPES = {
    0: (0,),
    1: (1,),
    2: (6, 7, 10, 11),
    3: (6, 7, 10, 11),
    4: (6, 7, 10, 11),
    5: tuple(range(2, 26)),
    6: (2, 3, 4, 5),
    7: tuple(range(2, 26)),
}
FEEDBACK_TYPES = tuple(t.id for t in SUBGRAPH_TYPES if t.feedback)


def subgraph_type(type_id: int) -> SubgraphType:
    """Return the subgraph type with this id.

    Raises:
        DAGError: when the id is not 0–25.
    """
    if isinstance(type_id, bool) or not isinstance(type_id, int) or not 0 <= type_id < N_TYPES:
        raise DAGError(f"subgraph type must be an integer 0–{N_TYPES - 1}, found {type_id!r}")
    return SUBGRAPH_TYPES[type_id]
