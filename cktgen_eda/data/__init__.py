"""Datasets: the OCB-style generator, labels and learning tensors (torch only in dataset code)."""
