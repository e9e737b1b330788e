"""Learning curves, in one home: scoring a point (score), the training hook that records them (hook), and
reading and comparing them at equal steps or minutes (compare)."""
