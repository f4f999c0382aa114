"""CktGen: the specification-conditioned circuit VAE (paper §2.2) and its building blocks.

Importing this package loads torch; torch-geometric is loaded only by the circuit encoder,
which generation does not need.
"""
