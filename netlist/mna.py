"""The small-signal MNA pencil of a linear deck: (G + sC)·x = −(g_in + s·c_in)·V(in).

deck → **mna** → stability (poles, exact DC gain, closed loop). The AC source's net ``in`` is
the input and is eliminated (its voltage is known); the unknowns ``x`` are every other net's
voltage and one branch current per inductor, voltage-controlled voltage source (E) and
DC voltage source (an AC short, as in ngspice's AC analysis). Then H(s) = x[out].

Element conventions are SPICE's: a G element ``G a b c d gm`` drives the current
gm·(V(c) − V(d)) out of net a, through itself, into net b; ``E a b c d k`` holds
V(a) − V(b) = k·(V(c) − V(d)). A 0 Ω resistor is an ideal short (our decks write it as a
0 V source). Subcircuits are flattened (internal nets become ``inst.net``; ``0``, ``gnd``
and ``.global`` nets are shared). Values must be plain SPICE numbers: a deck with
parameters, expressions or behavioural sources gets a ``NetlistError`` naming the line, and
the caller reports stability as unknown rather than guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import NetlistError
from .units import parse_spice_number

GROUND = frozenset({"0", "gnd"})
MAX_UNKNOWNS = 2000  # dense pencils only: 2,000 unknowns = 32 MB a matrix, ~10 s of QZ
_number = lru_cache(maxsize=1 << 16)(parse_spice_number)  # OCB grid values repeat
_STAMP_SIGN = np.array([1.0, -1.0, -1.0, 1.0])  # pencils_many: a two-terminal stamp's signs


@dataclass(frozen=True)
class Pencil:
    """The MNA matrices of one deck with the input voltage as excitation.

    Attributes:
        g, c: conductance and capacitance matrices over the unknowns.
        g_in, c_in: the input net's columns: the excitation is −(g_in + s·c_in)·V(in).
        out: index of the output net's voltage among the unknowns.
        unknowns: names of the unknowns (net names, ``i(NAME)`` for branch currents).

    Shapes:
        g, c: ``[n, n]``; g_in, c_in: ``[n]``.
    """

    g: np.ndarray
    c: np.ndarray
    g_in: np.ndarray
    c_in: np.ndarray
    out: int
    unknowns: tuple[str, ...]

    def transfer(self, s: np.ndarray) -> np.ndarray:
        """H(s) = V(out)/V(in) at complex frequencies ``s`` (rad/s), by direct solves.

        Shapes:
            s: ``[F]``; returns ``[F]`` complex.
        """
        s = np.asarray(s, dtype=complex)
        a = self.g[None] + s[:, None, None] * self.c[None]
        rhs = -(self.g_in[None] + s[:, None] * self.c_in[None])
        return np.linalg.solve(a, rhs[..., None])[:, self.out, 0]


def pencil_from_deck(text: str, in_node: str = "in", out_node: str = "out") -> Pencil:
    """Build the pencil of a deck (ours, or a plain deck after ``prepare_deck``).

    Raises:
        NetlistError: for an element or value the linear small-signal model cannot take
            (names the line), or when the output net is missing.
    """
    return pencil_from_elements(_flatten(text), in_node.lower(), out_node.lower())


def pencil_from_testbench(tb) -> Pencil:
    """The pencil of an OCB ``testbench.Testbench`` (what its deck would parse to, without
    writing and parsing the text)."""
    from .testbench import IN_NET, OUT_NET

    elements = [(el.name[0], el.name.lower(), el.nets, el.value, False) for el in tb.elements]
    return pencil_from_elements(elements, IN_NET, OUT_NET)


def pencil_from_elements(elements: list[_Element], in_node: str, out_node: str) -> Pencil:
    """Assemble the pencil from ``(kind, name, nets, value, ac)`` tuples (lower-case nets).

    Raises:
        NetlistError: when the output net is missing.
    """
    nets: dict[str, int] = {}
    branches: list[str] = []
    for kind, name, terminals, value, ac in elements:
        for net in terminals:
            if net not in nets and net not in GROUND and net != in_node:
                nets[net] = len(nets)
        if kind in "LE" or (kind == "V" and not ac) or (kind == "R" and value == 0):
            branches.append(name)
    if out_node not in nets:
        raise NetlistError(f"output net {out_node!r} is not an unknown of the deck")
    n = len(nets) + len(branches)
    if n > MAX_UNKNOWNS:
        raise NetlistError(
            f"{n} unknowns is more than the exact analysis takes ({MAX_UNKNOWNS}: its dense "
            "matrices grow as n², its eigenvalues as n³)"
        )
    col = dict(nets)
    col[in_node] = n  # an extra column collects the input net's coefficients
    g = [[0.0] * (n + 1) for _ in range(n + 1)]  # row n (the input net's KCL) is dropped
    c = [[0.0] * (n + 1) for _ in range(n + 1)]
    # plain lists: a circuit has ~20 elements, and numpy's per-item indexing costs more
    k = len(nets)
    for kind, _, terminals, value, ac in elements:
        ia, ib = col.get(terminals[0]), col.get(terminals[1])
        if kind in "RC" and not (kind == "R" and value == 0):
            m, y = (g, 1.0 / value) if kind == "R" else (c, value)
            if ia is not None:
                m[ia][ia] += y
                if ib is not None:
                    m[ia][ib] -= y
                    m[ib][ia] -= y
            if ib is not None:
                m[ib][ib] += y
        elif kind == "G":  # current value·(V(c) − V(d)) leaves a, enters b
            for ctrl, sc in ((col.get(terminals[2]), value), (col.get(terminals[3]), -value)):
                if ctrl is not None:
                    if ia is not None:
                        g[ia][ctrl] += sc
                    if ib is not None:
                        g[ib][ctrl] -= sc
        elif not ac:  # L, E, a DC source or a 0 Ω resistor: one branch current, row k
            if ia is not None:
                g[ia][k] += 1.0  # the branch current leaves a, enters b
                g[k][ia] += 1.0  # V(a) − V(b) …
            if ib is not None:
                g[ib][k] -= 1.0
                g[k][ib] -= 1.0
            if kind == "L":
                c[k][k] -= value  # … = s·L·i
            elif kind == "E":  # … = value·(V(c) − V(d))
                for ctrl, sc in ((col.get(terminals[2]), value), (col.get(terminals[3]), -value)):
                    if ctrl is not None:
                        g[k][ctrl] -= sc
            k += 1
    g, c = np.array(g[:n]), np.array(c[:n])
    unknowns = tuple(nets) + tuple(f"i({b})" for b in branches)
    return Pencil(
        np.ascontiguousarray(g[:, :n]),
        np.ascontiguousarray(c[:, :n]),
        g[:, n].copy(),
        c[:, n].copy(),
        nets[out_node],
        unknowns,
    )


# One flattened element: (kind R/C/L/G/E/V, name, nets, value, ac). ``ac`` marks the AC
# source (a DC source is an AC short); plain tuples, built in the parsing loop.
_Element = tuple[str, str, tuple[str, ...], float | None, bool]


_N_NETS = {"R": 2, "C": 2, "L": 2, "V": 2, "G": 4, "E": 4}


def _flatten(text: str) -> list[_Element]:
    """Top-level elements with subcircuit instances expanded (see the module doc)."""
    subckts: dict[str, tuple[list[str], list[tuple[int, list[str]]]]] = {}
    top: list[tuple[int, list[str]]] = []
    globals_: set[str] = set()
    current: list[tuple[int, list[str]]] | None = None
    text = text.lower()  # SPICE is case-insensitive (numbers too: 1M = 1m = milli)
    lines = _logical_lines(text)
    for number, line in lines:
        words = line.split()
        card = words[0]
        if card == ".subckt":
            if len(words) < 2:
                raise NetlistError(f"line {number}: .subckt without a name")
            if any("=" in w for w in words[2:]) or any(w.lower() == "params:" for w in words[2:]):
                raise NetlistError(f"line {number}: subcircuit parameters are not supported")
            current = []
            subckts[words[1]] = (words[2:], current)
        elif card == ".ends":
            current = None
        elif card == ".global":
            globals_.update(words[1:])
        elif card == ".end":
            break
        elif card.startswith("."):
            if card in (".param", ".func"):
                raise NetlistError(f"line {number}: {words[0]} (parameters) is not supported")
            continue  # analysis and option cards do not change the linear network
        else:
            (top if current is None else current).append((number, words))
    out: list[_Element] = []
    _expand(top, "", {}, subckts, globals_ | GROUND, out, 0)
    return out


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Element and card lines after the title: comments dropped, ``+`` continuations joined."""
    out: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines()[1:], start=2):
        line = raw.strip()
        if not line or line[0] == "*":
            continue
        if ";" in line or "$" in line:
            line = re.split(r";|\s\$\s|^\$", line, maxsplit=1)[0].strip()
            if not line:
                continue
        if line[0] == "+":
            if not out:
                raise NetlistError(f"line {number}: continuation '+' with no line before it")
            out[-1] = (out[-1][0], f"{out[-1][1]} {line[1:].strip()}")
        else:
            out.append((number, line))
    return out


def _expand(lines, prefix, pinmap, subckts, shared, out, depth) -> None:
    if depth > 20:
        raise NetlistError("subcircuits nested more than 20 deep")

    def net(name: str) -> str:
        if name in pinmap:
            return pinmap[name]
        return name if name in shared or not prefix else f"{prefix}{name}"

    for number, words in lines:
        letter = words[0][0].upper()
        name = f"{prefix}{words[0]}"
        if letter == "X":
            inst = [w for w in words[1:] if "=" not in w]
            if len(inst) < 1 or inst[-1] not in subckts:
                raise NetlistError(f"line {number}: unknown subcircuit in {words[0]}")
            pins, body = subckts[inst[-1]]
            conns = inst[:-1]
            if len(conns) != len(pins):
                raise NetlistError(
                    f"line {number}: {words[0]} connects {len(conns)} nets, "
                    f"{inst[-1]} has {len(pins)} pins"
                )
            inner = {p: net(c) for p, c in zip(pins, conns)}
            _expand(body, f"{name}.", inner, subckts, shared, out, depth + 1)
            continue
        n_nets = _N_NETS.get(letter)
        if n_nets is None:
            raise NetlistError(f"line {number}: element {words[0]} is not linear R/C/L/G/E/V")
        if len(words) < n_nets + 1:
            raise NetlistError(f"line {number}: {words[0]} needs {n_nets} nets")
        nets = (
            tuple(words[1 : 1 + n_nets]) if not prefix else tuple(map(net, words[1 : 1 + n_nets]))
        )
        rest = words[1 + n_nets :]
        if letter == "V":
            out.append(("V", name, nets, None, "ac" in rest))
            continue
        if len(rest) != 1 or "=" in rest[0] or rest[0].startswith("{"):
            raise NetlistError(
                f"line {number}: {words[0]} needs one plain number as its value, found "
                f"{' '.join(rest) or 'none'!r}"
            )
        try:
            value = _number(rest[0])
        except NetlistError as exc:
            raise NetlistError(f"line {number}: {exc}") from None
        out.append((letter, name, nets, value, False))


# ------------------------------------------------------------------ many element lists at once
@dataclass(frozen=True)
class PencilBatch:
    """Pencils of one size from ``pencils_many``, stacked: ``Pencil``'s fields for each.

    Shapes:
        index, out: ``[B]`` (which element lists); g, c: ``[B, n, n]``; g_in, c_in: ``[B, n]``.
    """

    index: np.ndarray
    g: np.ndarray
    c: np.ndarray
    g_in: np.ndarray
    c_in: np.ndarray
    out: np.ndarray


def pencils_many(
    owner: np.ndarray,
    kind: np.ndarray,
    nets: np.ndarray,
    value: np.ndarray,
    count: int,
    out_net: int,
) -> tuple[dict[int, PencilBatch], np.ndarray]:
    """``pencil_from_elements`` for many lists of R, C and G elements: the same matrices, bit
    for bit (each entry sums its terms in element order), by size.

    Args:
        owner: each element's list (0 … count − 1), lists one after the other.
        kind: 0 R, 1 C, 2 G.
        nets: terminal codes in SPICE order: −2 ground, −1 the input, other small
            non-negative integers name nets (R and C use the first two terminals).
        value: the element value (ohms for R).
        out_net: the output net's code.

    Returns:
        The pencils by size, and which lists got none: no output net, or a 0 Ω resistor
        (which needs a branch current: ``pencil_from_elements``).

    Shapes:
        owner, kind, value: ``[E]``; nets: ``[E, 4]``; the mask: ``[count]``.
    """
    two = kind != 2
    nets = np.where(two[:, None] & (np.arange(4) >= 2), -2, nets)
    col, size, out = _unknowns(owner, nets, count, out_net)
    zero_r = np.bincount(owner[(kind == 0) & (value == 0)], minlength=count) > 0
    bad = (out < 0) | zero_r
    with np.errstate(divide="ignore"):
        y = np.where(kind == 0, 1.0 / value, value)
    g = ~two[:, None]
    rows = np.where(g, col[:, [0, 1, 0, 1]], col[:, [0, 0, 1, 1]])
    cols = np.where(g, col[:, [2, 2, 3, 3]], col[:, [0, 1, 0, 1]])
    # blocks [2, n + 1, n + 1] (G, C; the last column the input's), those of a size together
    side = size + 1
    block = 2 * side**2
    by_size = np.argsort(size, kind="stable")
    base = np.empty(count, dtype=np.int64)
    base[by_size] = np.cumsum(block[by_size]) - block[by_size]
    wide = side[owner][:, None]
    where = base[owner][:, None] + ((kind == 1)[:, None] * wide + rows) * wide + cols
    live = (rows >= 0) & (cols >= 0)
    # bincount adds in array order: each entry's terms in element order, from 0.0, as
    # pencil_from_elements adds them (lists one after the other never share an entry)
    buf = np.bincount(
        where[live], weights=(y[:, None] * _STAMP_SIGN)[live], minlength=int(block.sum())
    )
    batches: dict[int, PencilBatch] = {}
    for n in np.unique(size[~bad]):
        members = by_size[size[by_size] == n]
        n = int(n)
        s0 = base[members[0]]
        view = buf[s0 : s0 + members.size * 2 * (n + 1) ** 2].reshape(-1, 2, n + 1, n + 1)
        keep = ~bad[members]
        if not keep.all():
            view, members = view[keep], members[keep]
        batches[n] = PencilBatch(
            members,
            view[:, 0, :n, :n],
            view[:, 1, :n, :n],
            view[:, 0, :n, n],
            view[:, 1, :n, n],
            out[members],
        )
    return batches, bad


def _unknowns(owner: np.ndarray, nets: np.ndarray, count: int, out_net: int):
    """Each terminal's column (its unknown, n for the input, −1 for ground), the unknowns per
    list, and the output's: the nets numbered in order of first appearance, as
    ``pencil_from_elements`` numbers them."""
    width = int(max(nets.max(initial=0), out_net)) + 1
    flat = np.where(nets >= 0, owner[:, None] * width + nets, -1).ravel()
    named = np.flatnonzero(flat >= 0)  # terms in order: lists one after the other
    first = np.full(count * width, named.size)
    np.minimum.at(first, flat[named], np.arange(named.size))
    pairs = np.flatnonzero(first < named.size)  # (list, net) pairs
    pairs = pairs[np.argsort(first[pairs], kind="stable")]  # list by list, then as they come
    size = np.bincount(pairs // width, minlength=count)
    table = np.full(count * width, -1)
    table[pairs] = np.arange(pairs.size) - (np.cumsum(size) - size)[pairs // width]
    col = table[np.maximum(flat, 0)].reshape(-1, 4)
    col = np.where(nets == -1, size[owner][:, None], np.where(nets == -2, -1, col))
    return col, size, table[np.arange(count) * width + out_net]
