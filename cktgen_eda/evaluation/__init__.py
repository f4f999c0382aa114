"""Evaluation tasks (the paper's protocols, judged by a simulator: ngspice by default).

``run_task`` runs cond-gen, recon or uncond on one model (``tasks``); ``auto_design.run``
the auto-design protocol. ``verified_accuracy`` / ``measure_classes`` (``verified``) are the
one path from generated circuits to simulator-measured classes.
"""

from .tasks import TASKS, run_task
from .verified import measure_classes, verified_accuracy

__all__ = ["TASKS", "measure_classes", "run_task", "verified_accuracy"]
