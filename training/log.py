"""Progress messages: to stderr, flushed at once, so that stdout stays for results."""

from __future__ import annotations

import sys


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
