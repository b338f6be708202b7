"""The scope rules' small parts, exactly: DICOM dates, the defined terms a refusal may quote, and
the one line every front end shows. Named by the mutation run (docs/developers/mutation-testing.md)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from pneumo_runtime.errors import ModelError
from pneumo_runtime.predictor import Predictor
from pneumo_runtime.scope import (
    ADULT_FILM,
    OLDER_FILM,
    DicomScope,
    PatientAgeError,
    PopulationCheck,
    _dicom_date,
    age_in_scope,
    age_refusal,
    dicom_age,
    header_refusal,
    parse_age,
    pooled_features,
    scope_line,
)


@pytest.mark.parametrize(("value", "expected"), [("20231125", date(2023, 11, 25)), (" 19991231 ", date(1999, 12, 31)), (20200229, date(2020, 2, 29)),
                                                 (None, None), ("", None), ("2023-11-25", None), ("2023112", None), ("20231345", None)])
def test_a_dicom_date_is_yyyymmdd(value, expected):
    assert _dicom_date(value) == expected


def test_age_from_a_birth_date_counts_days():
    assert dicom_age("", "20200101", ["20221231"]) == pytest.approx(1095 / 365.25)
    assert dicom_age("", "20201125", ["", "20191125", "20231125"]) == pytest.approx(1095 / 365.25)  # an earlier or empty date is skipped
    assert dicom_age("abc", "20201125", ["20231125"]) == pytest.approx(1095 / 365.25)  # an unparsable PatientAge falls back
    assert dicom_age("", "20231125", ["20231125"]) == 0.0  # filmed on the day of birth: a newborn, not an unknown age
    assert dicom_age("", "", ["20231125"]) is None and dicom_age("", "20201125", []) is None


def test_a_refusal_quotes_a_tag_as_a_clean_defined_term_of_at_most_16_characters():
    assert header_refusal(DicomScope(body_part="skull/head")) == (
        "outside intended use: the DICOM header says BodyPartExamined SKULLHEAD; pneumo reads chest films only")
    assert header_refusal(DicomScope(view_position="<lateral view, left side>")) == (
        "outside intended use: the DICOM header says ViewPosition LATERAL VIEW LEF; pneumo reads frontal (PA or AP) films only")
    assert header_refusal(DicomScope(modality=" ct ")) == (
        "outside intended use: the DICOM header says Modality CT; pneumo reads radiographs (CR, DX) only")
    assert header_refusal(DicomScope(body_part="chest", view_position="pa", modality="dx")) is None


def test_the_scope_line_says_whether_the_image_check_is_there():
    with_check = scope_line(Predictor(threads=1).contract.population_check)
    without = scope_line(None)
    common = "children aged 1-5 only: other ages (stated or in DICOM), body parts, views and modalities, "
    assert with_check == common + "and films that look like an adult's, are REJECTED"
    assert without == common + "are REJECTED (this model has no image check for adults' films)"


@pytest.mark.parametrize(("text", "years"), [("0", 0.0), ("000D", 0.0), (130, 130.0), ("130", 130.0)])
def test_ages_at_the_ends_of_the_plausible_range_are_ages(text, years):
    assert parse_age(text) == years


@pytest.mark.parametrize("text", [130.0001, "130.0001", -0.0001])
def test_ages_beyond_the_plausible_range_are_typing_errors(text):
    with pytest.raises(PatientAgeError) as error:
        parse_age(text)
    assert str(error.value) == "patient age must be between 0 and 130 years"


def test_age_in_scope_means_a_known_age_of_1_to_5():
    assert [age_in_scope(age) for age in (None, 0.5, 1.0, 5.99, 6.0, 40.0)] == [False, False, True, True, False, False]


def test_population_cut_offs_at_their_values_and_just_beyond():
    """At a cut-off the film stays on the lower side; the next score above crosses it."""
    check = Predictor(threads=1).contract.population_check
    assert check.refer_above < check.reject_above
    above = lambda value: float(np.nextafter(value, np.inf))  # noqa: E731
    assert check.refusal(check.refer_above, None) is None
    assert check.refusal(above(check.refer_above), None) == ("REFER", OLDER_FILM)
    assert check.refusal(above(check.refer_above), 3.0) is None  # a stated age of 1-5 lifts the referral
    assert check.refusal(above(check.refer_above), 7.0) == ("REFER", OLDER_FILM)
    assert check.refusal(check.reject_above, None) == ("REFER", OLDER_FILM)
    assert check.refusal(above(check.reject_above), None) == ("REJECTED", ADULT_FILM)
    assert check.refusal(above(check.reject_above), 3.0) == ("REJECTED", ADULT_FILM)  # ... never the rejection


@pytest.mark.parametrize("flag", [True, False])
def test_a_boolean_is_not_an_age(flag):
    """A form's checkbox or a JSON true must not become an age of 1 (or 0) years."""
    with pytest.raises(PatientAgeError, match="must be a number of years"):
        parse_age(flag)


def test_population_check_block_defaults_errors_and_score():
    block = {"mean": [1, 2], "scale": [2, 4], "weights": [1, 1], "bias": 0.5, "refer_above": 1.0, "reject_above": 2.0}
    check = PopulationCheck.from_dict(block)
    assert (check.fitted_on, check.digest) == ({}, "")  # optional in the block
    assert check.scores(np.array([[3.0, 6.0], [1.0, 2.0]])).tolist() == [2.5, 0.5]  # (3-1)/2 + (6-2)/4 + 0.5
    with pytest.raises(ModelError, match=r"^the model's population check is malformed \(KeyError\)$"):
        PopulationCheck.from_dict({k: v for k, v in block.items() if k != "bias"})
    with pytest.raises(ModelError, match=r"^the model's population check is malformed \(ValueError\)$"):
        PopulationCheck.from_dict({**block, "bias": "x"})
    with pytest.raises(ModelError, match=r"^the population check in the contract of m.onnx does not belong to this model file"):
        check.verify("a" * 64, "m.onnx")  # no digest: bound to no file
    uneven = PopulationCheck.from_dict({**block, "weights": [1, 1, 1]}).sealed("a" * 64)
    with pytest.raises(ModelError, match=r"^the population check of m.onnx is malformed \(its vectors differ in length\)$"):
        uneven.verify("a" * 64, "m.onnx")


def test_an_age_that_is_not_a_number_is_named_so():
    with pytest.raises(PatientAgeError, match=r"^patient age must be a number of years, such as 3 or 2.5$"):
        parse_age("three")


def test_pooled_features_are_float64_means_over_the_map():
    feature_map = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5) / 7
    pooled = pooled_features(feature_map)
    assert pooled.dtype == np.float64 and pooled.shape == (2, 3)
    np.testing.assert_array_equal(pooled, feature_map.astype(np.float64).mean(axis=(2, 3)))


@pytest.mark.parametrize(("age", "band"), [
    (0.5, "an infant under 1 year (infants have other diseases, are filmed lying down and were not in training)"),
    (6.0, "a child aged 6-17 (no child of that age was in training)"),
    (18.0, "an adult (18 or over)")])
def test_an_age_refusal_names_its_band_in_full(age, band):
    assert age_refusal(age) == f"outside intended use: the patient is {band}; pneumo is for frontal chest films of children aged 1-5"
