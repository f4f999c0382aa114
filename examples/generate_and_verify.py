"""Generate op-amps for a spec with the shipped CktGen model and prove them with ngspice.

    python examples/generate_and_verify.py "gain>=80dB,ugf>=1GHz,pm>=45deg" [OUT_DIR]

Prints one line per candidate (measured by ngspice, best first: spec passes, then the other
stable amplifiers) and, with OUT_DIR, writes the candidates that meet the spec as circuit JSON
and ngspice decks. A pass is a working amplifier: stable open loop and at unity gain.
"""

import sys
from pathlib import Path

import cktgen_eda as ck

spec = ck.parse_spec(sys.argv[1] if len(sys.argv) > 1 else "gain>=80dB,ugf>=1GHz,pm>=45deg")
result = ck.generate(spec, n=8, seed=0, verify=True)

for c in result.candidates:
    m = c.measurement
    if m is None or not m.valid:
        print(f"#{c.index} class {c.spec_class}: not measurable ({c.error or m.reason})")
        continue
    loop_pm = "-" if m.pm_loop_deg is None else f"{m.pm_loop_deg:.1f} deg"
    print(
        f"#{c.index} class {c.spec_class}: gain {m.gain_db:.1f} dB, UGF {m.ugf_hz / 1e9:.3g} GHz,"
        f" loop PM {loop_pm}, FoM {m.fom:.1f}, stable: {m.stable}/{m.cl_stable},"
        f" meets spec: {m.meets_spec}" + ("" if m.meets_spec else f" ({m.fails[0]})")
    )

if len(sys.argv) > 2:
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for c in result.candidates:
        if c.meets:
            c.circuit.save(out / f"amp_{c.index}.json")
            (out / f"amp_{c.index}.cir").write_text(ck.to_spice(c.circuit))
    print(f"wrote the passing candidates to {out}")
