"""Exception types of the library. The CLI turns each into a one-line ``Error: …``."""

from __future__ import annotations


class CktGenError(Exception):
    """Base class of every error the library raises on bad input or a failed run."""


class SpecError(CktGenError, ValueError):
    """A specification text or class tuple that cannot be understood."""


class DAGError(CktGenError, ValueError):
    """A circuit DAG or circuit file that breaks the format or validity rules."""


class NetlistError(CktGenError, ValueError):
    """A netlist that cannot be written or parsed (messages carry the line number)."""


class SimulationError(CktGenError, RuntimeError):
    """ngspice failed, hung or produced no usable sweep for one circuit."""


class PluginError(CktGenError):
    """A plugin failed to load or run; the message names the plugin."""
