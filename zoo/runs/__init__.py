"""A run folder on disk: its checkpoints, loading a trained run, and drawing samples from it."""
