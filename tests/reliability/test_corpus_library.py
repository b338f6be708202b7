"""Every corpus input through the library: a prediction or a typed one-line error, as written down."""

from __future__ import annotations

import pytest
from corpus import NOT_CONFIDENT
from expectations import check

from pneumo_runtime.errors import PneumoError
from pneumo_runtime.predictor import Prediction


def test_corpus_through_the_library(corpus, default_predictor, source_decision):
    results = default_predictor.predict_batch([case.path for case in corpus])  # raises nothing, whatever the input
    assert len(results) == len(corpus)
    for case, result in zip(corpus, results, strict=True):
        if case.expect == NOT_CONFIDENT:
            continue  # its own test below
        assert isinstance(result, (Prediction, PneumoError)), case.name
        if isinstance(result, PneumoError):
            check(case, None, str(result), source_decision)
        else:
            check(case, result.decision, result.reason, source_decision)


def test_inverted_film_is_never_a_confident_answer(corpus, default_predictor, source_decision):
    """Needs the input guard's inverted-film check (pneumo_runtime/guard.py)."""
    cases = [case for case in corpus if case.expect == NOT_CONFIDENT]
    assert cases
    for case in cases:
        result = default_predictor.predict_batch([case.path])[0]
        assert isinstance(result, Prediction), f"{case.name}: {result}"
        check(case, result.decision, result.reason, source_decision)


@pytest.mark.parametrize("max_pixels", [10_000, 50_000_000])
def test_a_file_larger_than_its_format_allows_is_refused_before_reading(tmp_path, max_pixels):
    from pneumo_runtime.inputs import size_cap

    sparse = tmp_path / "huge.png"  # a PNG signature, then a hole: gigabytes on paper, nothing on disk
    with sparse.open("wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.truncate(size_cap("png", max_pixels) + 1)
    from pneumo_runtime.inputs import load_image

    with pytest.raises(PneumoError, match="file too large"):
        load_image(sparse, max_pixels=max_pixels)
