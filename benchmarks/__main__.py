"""``python -m benchmarks``: run the suite and print the tables (see benchmarks/README.md)."""

from __future__ import annotations

from benchmarks._requirements import exit_if_missing

exit_if_missing()  # before _cli imports numpy: a missing runner is a message, not a traceback

from benchmarks._cli import main  # noqa: E402

raise SystemExit(main())
