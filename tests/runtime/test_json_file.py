"""The one JSON writer: strict JSON whatever the numbers, and no other module writes JSON files its own way."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from pneumo_runtime.json_file import write_json

REPO = Path(__file__).resolve().parents[2]


def test_nan_numpy_and_paths_become_strict_json(tmp_path):
    path = write_json(tmp_path / "deep" / "report.json", {"auc": np.float32(0.5), "n": np.int64(3), "nan": math.nan, "inf": np.inf,
                                                           "array": np.arange(2), "flag": np.bool_(True), "where": Path("a/b")})
    text = path.read_text()
    assert text.endswith("\n") and "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"auc": 0.5, "n": 3, "nan": None, "inf": None, "array": [0, 1], "flag": True, "where": "a/b"}


def test_no_module_writes_a_json_file_its_own_way():
    pattern = re.compile(r"write_text\(json\.dumps|json\.dump\(")
    rooms = ("pneumo_runtime", "training", "export", "site_kit", "serve", "demo", "benchmarks", "scripts")
    offenders = [str(p.relative_to(REPO)) for room in rooms for p in (REPO / room).rglob("*.py")
                 if p.name != "json_file.py" and pattern.search(p.read_text())]
    assert not offenders
