"""Round-trip the example circuits through SPICE and measure them with ngspice.

Usage: python examples/roundtrip_and_verify.py [CIRCUIT.json ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cktgen_eda as ck


def main(paths: list[Path]) -> int:
    circuits = []
    for path in paths:
        circuit = ck.load_circuit(path)
        deck = ck.to_spice(circuit)  # the OCB testbench as an ngspice deck
        assert ck.from_spice(deck) == circuit, f"{path}: SPICE round trip changed the circuit"
        circuits.append(circuit)
    spec = ck.parse_spec("gain>=60dB,ugf>=10MHz,pm>=30deg")
    for path, result in zip(paths, ck.verify(circuits, spec=spec)):
        m = result.measurement
        print(
            f"{path.name:32s} gain {m.gain_db:6.1f} dB  UGF {m.ugf_hz / 1e6:9.2f} MHz  "
            f"PM {m.pm_deg:6.1f}°  FoM {m.fom:6.2f}  meets spec: {m.meets_spec}"
        )
    return 0


if __name__ == "__main__":
    here = Path(__file__).parent / "circuits"
    sys.exit(main([Path(p) for p in sys.argv[1:]] or sorted(here.glob("*.json"))))
