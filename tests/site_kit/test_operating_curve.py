"""The oracle behind ``pneumo-adapt curve``: the best specificity a threshold could give, and the must's band."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pneumo.site_kit.operating_curve import best_specificity, must_band


def test_one_high_normal_and_one_low_pneumonia_film_set_the_oracle():
    # 20 pneumonia films, one of them scored low; 10 normal films, one of them scored high.
    labels = np.array([1] * 20 + [0] * 10)
    scores = np.array([0.9] * 19 + [0.1] + [0.2] * 9 + [0.95])
    assert best_specificity(labels, scores) == 0.9  # 19/20 = 0.95 found, the one high normal flagged
    assert best_specificity(labels, scores, sensitivity=1.0) == 0.0  # reaching the low film flags every normal
    assert must_band(labels, scores) == {"sensitivity_low": 0.95, "sensitivity_high": 0.95, "pneumonia_films_wide": 0}
    assert must_band(labels, scores, specificity=0.91) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 20)), min_size=2, max_size=60).filter(
    lambda films: len({label for label, _ in films}) == 2))
def test_the_oracle_is_the_best_of_every_threshold(films):
    labels = np.array([int(label) for label, _ in films])
    scores = np.array([score / 20 for _, score in films])
    # Every threshold a site could set: flag the films scored at or above it.
    points = [((scores[labels == 1] >= t).mean(), (scores[labels == 0] < t).mean()) for t in [*np.unique(scores), np.inf]]
    assert best_specificity(labels, scores) == pytest.approx(max(spec for sens, spec in points if sens >= 0.95))
    meeting = [sens for sens, spec in points if sens >= 0.95 and spec >= 0.9]
    band = must_band(labels, scores)
    assert (band is None) == (not meeting)
    if meeting:
        assert (band["sensitivity_low"], band["sensitivity_high"]) == (round(min(meeting), 4), round(max(meeting), 4))
