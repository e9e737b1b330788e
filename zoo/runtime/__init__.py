"""What the machine and process offer: CPU kind, precision, compiled networks, the allocator, atomic files,
progress bars and named random streams."""
