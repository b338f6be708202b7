"""The one way pneumo writes a JSON file (reports, summaries, histories, benchmark results).

Strict JSON for any reader: NaN and infinities become null, numpy scalars plain numbers, paths
strings; one space of indent, keys in the order given, a final newline.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePath
from typing import Any

import numpy as np


def json_ready(value: Any) -> Any:
    """``value`` with NaN/inf as None, numpy scalars and arrays as Python numbers and lists, paths as strings."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, PurePath):
        return str(value)
    return value


def write_json(path: str | Path, value: Any) -> Path:
    """Write ``value`` to ``path`` (its folder created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_ready(value), indent=1, allow_nan=False) + "\n")
    return path
