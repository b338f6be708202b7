"""The backbone rule (docs/experiments/2026-12-07-backbones.md) as committed: a challenger replaces the
default only when its score is more than 5% lower, and a candidate without a run is listed, never scored."""

from __future__ import annotations

import pytest

from pneumo.training.studies.backbones import DEFAULT, MARGIN, decide, markdown


def scores(score: float) -> dict:
    return {"score": score, "clean_nll": score, "shift_nll": score, "clean_brier": 0.05, "shift_brier": 0.06, "clean_auc": 0.998, "shift_auc": 0.99}


@pytest.mark.parametrize(("gain", "replaces"), [(MARGIN + 0.001, True), (MARGIN - 0.001, False), (-0.1, False)])
def test_the_challenger_must_beat_the_default_by_more_than_the_margin(gain, replaces):
    results = {DEFAULT: scores(0.2), "L2": scores(0.2 * (1 - gain)), "L1": scores(0.25), "S": None}
    decision = decide(results)
    assert decision["challenger"] == "L2"  # the lowest score, whether or not it is low enough
    assert decision["replaces_default"] is replaces and decision["not_run"] == ["S"]


def test_with_no_run_the_default_stays_and_the_table_says_not_run():
    results = {DEFAULT: scores(0.2), "L2": None}
    study = {"candidates": results, "validation_images": 746, "decision": decide(results)}
    assert study["decision"]["replaces_default"] is False and study["decision"]["challenger"] is None
    table = markdown(study)
    assert "| L2 | not run |" in table and "| A: the shipped default (Lite0) | 0.2000 |" in table and "the default stays" in table


def test_a_challenger_worse_than_the_default_is_called_worse():
    results = {DEFAULT: scores(0.2), "L1": scores(0.22)}
    assert "L1, scores 10.00% worse (needs a gain > 5%)" in decide(results)["verdict"]


def test_a_gain_just_under_the_margin_does_not_print_as_the_margin():
    results = {DEFAULT: scores(0.2), "E": scores(0.2 * (1 - 0.0498))}
    decision = decide(results)
    assert decision["replaces_default"] is False and "E, gains 4.98% (needs a gain > 5%)" in decision["verdict"]
