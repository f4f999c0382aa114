"""Evaluation tasks (the paper's protocols, judged by ngspice)."""
