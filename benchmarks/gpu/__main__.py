"""``python -m benchmarks.gpu``: see benchmarks/README.md, "GPU run"."""

from __future__ import annotations

from benchmarks.gpu._kit import main

raise SystemExit(main())
