"""``python -m benchmarks``: run the suite and print the tables (see benchmarks/README.md)."""

from __future__ import annotations

from benchmarks._cli import main

raise SystemExit(main())
