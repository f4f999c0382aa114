"""Circuit ⇄ netlist text and the ngspice simulator (installed as ``cktgen_eda.netlist``).

circuit → **netlist** → ngspice → measurement. Importing this package loads neither torch
nor PySpice; ``ngspice.py`` alone touches libngspice, inside worker processes.
"""
