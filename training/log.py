"""Progress messages: to stderr, flushed at once, so that stdout stays for results."""

from __future__ import annotations

import os
import sys


def log(message: str) -> None:
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 speaks (fit.distributed.is_main_process)
        print(message, file=sys.stderr, flush=True)
