"""One module per ``zoo`` sub-command (discovered by :mod:`zoo.cli`)."""
