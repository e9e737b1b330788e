"""``python -m zoo`` (and ``torchrun -m zoo train ...``)."""

from zoo.cli import main

raise SystemExit(main())
