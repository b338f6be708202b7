"""PPV/NPV at a site's prevalence, and whether the shipped operating point holds there."""

import pytest

from pneumo.training.evaluation.intervals import proportion
from pneumo.training.evaluation.site_view import predictive_values, site_view


def test_predictive_values_follow_bayes_rule():
    ppv, npv = predictive_values(0.9, 0.8, 0.1)
    assert ppv == pytest.approx(0.09 / (0.09 + 0.18))
    assert npv == pytest.approx(0.72 / (0.72 + 0.01))


def test_the_operating_point_holds_unless_the_site_rules_it_out():
    rule = {"rule": "sensitivity", "target": 0.95}
    near = site_view({"sensitivity": proportion(46, 50), "specificity": proportion(40, 50)}, rule, 0.2)  # 0.92, CI reaches 0.95
    far = site_view({"sensitivity": proportion(160, 200), "specificity": proportion(40, 50)}, rule, 0.2)  # 0.80, CI well below
    assert near["operating_point"]["holds"] and near["operating_point"]["verdict"].startswith("holds")
    assert not far["operating_point"]["holds"] and "pneumo-adapt --labelled" in far["operating_point"]["verdict"]
    assert far["ppv"]["ci_low"] <= far["ppv"]["value"] <= far["ppv"]["ci_high"]
    with pytest.raises(ValueError, match="prevalence"):
        site_view({"sensitivity": proportion(1, 2), "specificity": proportion(1, 2)}, rule, 1.0)
