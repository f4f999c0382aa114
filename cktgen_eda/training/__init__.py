"""Training loops and checkpoints (torch)."""
