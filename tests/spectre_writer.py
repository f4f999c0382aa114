"""Test helper: write a circuit as an OCB-style Spectre netlist (as the original flow did)."""

from __future__ import annotations

from cktgen_eda.netlist.testbench import build_testbench


def _spectre_number(x: float) -> str:
    return repr(float(x))


def write_spectre(circuit) -> str:
    """One subckt per subgraph with pins GND OUT IN; stage nets renamed like OCB's."""
    tb = build_testbench(circuit)
    rename = {"in": "net2", "out": "OUT", "n1": "net3", "n2": "net4", "0": "0"}
    lines = ["// Library name: GNN_Circuit", "simulator lang=spectre"]
    instances = []
    for i, nd in enumerate(circuit.nodes):
        els = [e for e in tb.elements if e.node == i]
        if not els:
            continue
        pin_in, pin_out = tb.node_nets[i]
        sub = f"blk_{nd.type}_{i}"
        lines.append(f"subckt {sub} GND OUT IN")
        for k, e in enumerate(els):
            local = {pin_in: "IN", pin_out: "OUT", "0": "GND", f"x{i}": "mid"}
            if e.role in ("rl", "cl"):
                nets = ("OUT", "GND")
            elif e.role == "gm":
                nets = ("OUT", "GND", "IN", "GND")
            else:
                nets = tuple(local[n] for n in e.nets)
            kind = {"R": "resistor r", "C": "capacitor c", "G": "vccs gm"}[e.name[0]]
            master, key = kind.split()
            lines.append(f"    E{k} ({' '.join(nets)}) {master} {key}={_spectre_number(e.value)}")
        lines.append(f"ends {sub}")
        instances.append(f"I{i} (0 {rename[pin_out]} {rename[pin_in]}) {sub}")
    lines += instances
    lines.append("V0 (net2 0) vsource dc=0 mag=1m type=sine ampl=1m freq=1K")
    return "\n".join(lines) + "\n"
