"""Where the X-ray data lives for the studies, benchmarks and tests: one rule.

``PNEUMO_DATA`` when set (a worktree, another machine); else ``shared/data`` beside the checkout
(``../shared/data``, as CI lays it out). An installed pneumo is not in a checkout: its commands
look beside the folder they run in, which for the documented commands is the checkout. The runtime itself never reads it: a prediction takes the
files it is given.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "PNEUMO_DATA"
CHECKOUT = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """The folder holding ``kermany_224/``, ``kermany_fullres_sample/``, ... (it may not exist)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    checkout = CHECKOUT if (CHECKOUT / "pyproject.toml").is_file() else Path.cwd()
    return checkout.parent / "shared" / "data"
