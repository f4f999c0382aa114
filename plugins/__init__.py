"""EDA-flow plugin layer (installed as ``cktgen_eda.plugins``).

Hook specifications and the built-in SPICE/KiCad plugins arrive with the plugin issue; the
package exists now so the installed layout is final from the first release.
"""
