"""Dataset sources, preparation (clean, split, save) and loading for training."""
