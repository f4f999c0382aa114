"""Plain SPICE decks a user already has, prepared for the same AC measurement.

user deck → **prepare_deck** → ngspice → measurement. A behavioural amplifier built from R, C,
L, G/E controlled sources and ``.subckt`` instances, driven by one AC voltage source, is
measured exactly like a generated circuit: any analysis cards are replaced by the OCB sweep
(``.ac dec 100 1 100G``) and H = V(out)/V(in), with ``in`` the AC source's + node.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import NetlistError
from .spice import AC_CARD, logical_lines

DECK_SUFFIXES = (".cir", ".sp", ".spi", ".spice", ".net", ".ckt")
_ELEMENTS = "RCLGEVX"
_KEEP_CARDS = {".subckt", ".ends", ".param", ".global", ".options", ".option", ".temp", ".func"}
_DROP_CARDS = {
    ".ac",
    ".tran",
    ".op",
    ".dc",
    ".noise",
    ".tf",
    ".pz",
    ".disto",
    ".sens",
    ".print",
    ".plot",
    ".probe",
    ".save",
    ".meas",
    ".measure",
    ".four",
    ".width",
}


@dataclass(frozen=True)
class PreparedDeck:
    """A deck ready to simulate and the nets to measure between."""

    text: str
    in_node: str
    out_node: str


def prepare_deck(text: str, out_node: str = "out", source: str = "<deck>") -> PreparedDeck:
    """Check a plain SPICE deck and set it up for the OCB AC sweep.

    Raises:
        NetlistError: naming the line of an unsupported element or card, a missing or
            second AC source, or an output node that the deck does not have.
    """
    if not isinstance(text, str):
        raise NetlistError(f"{source}: deck must be text")
    lines = logical_lines(text)
    if not lines:
        raise NetlistError(f"{source}: empty deck")
    # As in every SPICE, the first line is the title, whatever it holds.
    title, body = "* " + lines[0][1].lstrip("*").strip(), lines[1:]
    kept, sources, top_nets, depth, in_control = [], [], set(), 0, False
    for number, line in body:
        where = f"{source}: line {number}"
        low = line.lower()
        if in_control:
            in_control = not low.startswith(".endc")
            continue
        if line.startswith("*"):
            continue
        words = line.split()
        card = words[0].lower()
        if card.startswith("."):
            if card == ".control":
                in_control = True
            elif card == ".end":
                break
            elif card == ".subckt":
                depth += 1
                kept.append(line)
            elif card == ".ends":
                depth -= 1
                if depth < 0:
                    raise NetlistError(f"{where}: .ends without .subckt")
                kept.append(line)
            elif card in _KEEP_CARDS:
                kept.append(line)
            elif card not in _DROP_CARDS:
                raise NetlistError(f"{where}: card {words[0]} is not supported in a verify deck")
            continue
        letter = card[0].upper()
        if letter not in _ELEMENTS:
            raise NetlistError(
                f"{where}: element {words[0]} is not supported (use R, C, L, G, E, V, X)"
            )
        if len(words) < 3:
            raise NetlistError(f"{where}: element {words[0]} needs at least two nodes")
        if letter == "V":
            if depth:
                raise NetlistError(f"{where}: voltage source {words[0]} inside a .subckt")
            if "ac" in (w.lower() for w in words[3:]):
                sources.append((number, words[1].lower(), words[2].lower()))
        if depth == 0:
            n_nodes = {"G": 4, "E": 4, "X": len(words) - 2}.get(letter, 2)
            top_nets.update(w.lower() for w in words[1 : 1 + n_nodes])
        kept.append(line)
    if depth:
        raise NetlistError(f"{source}: a .subckt has no .ends")
    if len(sources) != 1:
        found = ", ".join(f"line {n}" for n, _, _ in sources) or "none"
        raise NetlistError(f"{source}: need exactly one AC voltage source, found {found}")
    _, plus, minus = sources[0]
    if minus not in ("0", "gnd"):
        raise NetlistError(f"{source}: the AC source must drive a node against ground (0)")
    out = out_node.lower()
    if out not in top_nets:
        raise NetlistError(f"{source}: output node {out_node!r} not found in the deck")
    if out == plus:
        raise NetlistError(f"{source}: output node {out_node!r} is the AC source's own node")
    deck = "\n".join([title, *kept, AC_CARD, ".end", ""])
    return PreparedDeck(deck, plus, out)
