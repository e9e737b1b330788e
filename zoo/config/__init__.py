"""Run configuration: the spec dataclasses, how values are coerced, the recipe and presets, and resolving a
spec against the registry (once, at the edge)."""
