"""Golden outputs: each shipped model's probabilities on ``examples/*.jpeg``, pinned to 1e-5.

A change of preprocessing, of a shipped model or of the decision rule shows here at once. When such a
change is intended, regenerate the pins and say why in the commit:

    python tests/runtime/test_golden.py   # rewrites tests/fixtures/golden_probabilities.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pneumo_runtime.predictor import Predictor, shipped_models

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.jpeg"))
GOLDEN = REPO / "tests" / "fixtures" / "golden_probabilities.json"
TOLERANCE = 1e-5


def current_outputs() -> dict[str, dict[str, dict]]:
    """{model name: {example file: {"decision": ..., "probabilities": {class: p}}}} from the code as it is."""
    outputs: dict[str, dict[str, dict]] = {}
    for name in sorted(shipped_models()):
        predictor = Predictor(name)
        outputs[name] = {}
        for path in EXAMPLES:
            result = predictor.predict(path)
            outputs[name][path.name] = {"decision": result.decision, "probabilities": result.probabilities}
    return outputs


def test_every_shipped_model_and_example_is_pinned():
    golden = json.loads(GOLDEN.read_text())
    assert set(golden) == set(shipped_models())
    for name, per_image in golden.items():
        assert set(per_image) == {path.name for path in EXAMPLES}, name


@pytest.mark.parametrize("name", sorted(shipped_models()))
def test_shipped_model_outputs_match_the_golden_values(name):
    expected = json.loads(GOLDEN.read_text())[name]
    predictor = Predictor(name)
    for path in EXAMPLES:
        result = predictor.predict(path)
        pinned = expected[path.name]
        assert result.decision == pinned["decision"], path.name
        assert result.probabilities.keys() == pinned["probabilities"].keys(), path.name
        for cls, probability in pinned["probabilities"].items():
            assert result.probabilities[cls] == pytest.approx(probability, abs=TOLERANCE), (name, path.name, cls)


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(current_outputs(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}", file=sys.stderr)
