"""Scope: does this film lie inside pneumo's intended use, frontal chest films of children aged 1-5?

Checked cheapest first, and the first refusal wins:

1. the patient's age, as stated (``--patient-age``, the REST ``patient_age`` field, the demo's age
   box) or read from the DICOM header (PatientAge, else PatientBirthDate at StudyDate,
   AcquisitionDate or SeriesDate), before any pixel is decoded;
2. the rest of the DICOM header: BodyPartExamined, ViewPosition and Modality, also before any pixel;
3. the image: ``PopulationCheck``, a logistic regression on the model's own pooled features that
   tells the training children from adults (``python -m pneumo.export.guard.population_fit``).

A tag that is missing or empty says nothing; the image checks decide. Reasons name the tag and an age
band, never a date, a name or an exact age: a DICOM header identifies a patient.

The age rule (MODEL_CARD.md, "Who it is for"): a result only from 1 up to, not including, 6 years.
Under 1 is refused because infants have other diseases, are filmed supine and were not in training;
6-17 because no such child was in training and the image check catches adults but cannot tell an
8-year-old from a 5-year-old, so a stated age is the only safe guard; 18 and over because adults are
a different population, on which the model's labels are no better than chance.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np

from .errors import ModelError, PneumoError

MIN_AGE_YEARS = 1.0
MAX_AGE_YEARS = 6.0  # exclusive: a child of 5 years and 11 months is in scope
ADULT_AGE_YEARS = 18.0
OLDEST_AGE_YEARS = 130.0  # a stated age above this is a typing error, not a patient
INTENDED_USE = "pneumo is for frontal chest films of children aged 1-5"
ADULT_FILM = f"outside intended use: this looks like an adult's chest film; {INTENDED_USE}"
TURN_HINT = "; if it is a young child's film, check that it is upright and not inverted"
OLDER_FILM = ("outside intended use: this may be an older child's or an adult's chest film; give the patient's age "
              "(a stated age of 1-5 lets the film be read), or have a radiologist review it")

# DICOM defined terms inside the intended use. An absent or empty tag is no refusal.
CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG"}
FRONTAL_VIEWS = {"PA", "AP"}
RADIOGRAPH_MODALITIES = {"CR", "DX", "DR"}
_AGE_UNITS = {"D": 365.25, "W": 365.25 / 7, "M": 12.0, "Y": 1.0}


class PatientAgeError(PneumoError):
    """A stated patient age that is not an age in years."""


def parse_age(text: str | float | int | None) -> float | None:
    """A stated age in years (``3``, ``2.5``, or DICOM's ``003Y``/``018M``/``06W``/``10D``); None or
    an empty string: not given. Anything else is a one-line PatientAgeError."""
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return _checked_age(float(text))
    value = str(text).strip().upper()
    if not value:
        return None
    match = re.fullmatch(r"(\d{1,3})\s*([DWMY])", value)
    if match:
        return _checked_age(int(match.group(1)) / _AGE_UNITS[match.group(2)])
    try:
        return _checked_age(float(value))
    except ValueError:
        raise PatientAgeError("patient age must be a number of years, such as 3 or 2.5") from None


def _checked_age(years: float) -> float:
    if not math.isfinite(years) or years < 0 or years > OLDEST_AGE_YEARS:
        raise PatientAgeError(f"patient age must be between 0 and {OLDEST_AGE_YEARS:.0f} years")
    return years


def age_refusal(age_years: float | None) -> str | None:
    """The reason an age lies outside the intended use, by band; None when in scope or unknown."""
    if age_years is None or MIN_AGE_YEARS <= age_years < MAX_AGE_YEARS:
        return None
    if age_years < MIN_AGE_YEARS:
        band = "an infant under 1 year (infants have other diseases, are filmed lying down and were not in training)"
    elif age_years < ADULT_AGE_YEARS:
        band = "a child aged 6-17 (no child of that age was in training)"
    else:
        band = "an adult (18 or over)"
    return f"outside intended use: the patient is {band}; {INTENDED_USE}"


def age_in_scope(age_years: float | None) -> bool:
    return age_years is not None and age_refusal(age_years) is None


@dataclass(frozen=True)
class DicomScope:
    """The header tags that decide scope, read without the pixels (``dicom.dicom_scope``)."""

    age_years: float | None = None
    body_part: str = ""
    view_position: str = ""
    modality: str = ""


def dicom_age(patient_age: Any, birth_date: Any, on_dates: list[Any]) -> float | None:
    """PatientAge if it parses, else the birth date against the first study date given; else None."""
    try:
        age = parse_age(str(patient_age)) if patient_age else None
    except PatientAgeError:
        age = None
    if age is not None:
        return age
    born = _dicom_date(birth_date)
    if born is None:
        return None
    for on in on_dates:
        seen = _dicom_date(on)
        if seen is not None and seen >= born:
            return (seen - born).days / 365.25
    return None


def _dicom_date(value: Any) -> date | None:
    text = str(value or "").strip()
    if not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _term(value: str) -> str:
    """A defined term as it may appear in a message: letters, digits and spaces, at most 16."""
    return re.sub(r"[^A-Z0-9 ]", "", value.upper())[:16]


def header_refusal(header: DicomScope, stated_age: float | None = None) -> str | None:
    """The first reason the DICOM header puts the film outside the intended use, or None.
    A stated age wins over the header's (the person at the keyboard knows the patient)."""
    refusal = age_refusal(stated_age if stated_age is not None else header.age_years)
    if refusal:
        return refusal
    body_part, view, modality = (_term(v).strip() for v in (header.body_part, header.view_position, header.modality))
    if body_part and body_part not in CHEST_BODY_PARTS:
        return f"outside intended use: the DICOM header says BodyPartExamined {body_part}; pneumo reads chest films only"
    if view and view not in FRONTAL_VIEWS:
        return f"outside intended use: the DICOM header says ViewPosition {view}; pneumo reads frontal (PA or AP) films only"
    if modality and modality not in RADIOGRAPH_MODALITIES:
        return f"outside intended use: the DICOM header says Modality {modality}; pneumo reads radiographs (CR, DX) only"
    return None


@dataclass(frozen=True)
class PopulationCheck:
    """Children of the training population against adults, from the model's pooled features.

    ``score`` is a logit (above 0 leans adult). The cut-offs are quantiles of out-of-fold scores of
    the training children: above ``refer_above`` a film is referred as possibly an older child's or
    an adult's (a stated age of 1-5 lifts that), above ``reject_above`` it is refused as an adult's.
    It travels in the model's contract sidecar, bound to the model file by ``digest``: the SHA-256
    of the model's SHA-256 and this block, checked on load (``verify``).
    """

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    refer_above: float
    reject_above: float
    fitted_on: dict[str, Any]
    digest: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PopulationCheck:
        try:
            return cls(mean=tuple(map(float, data["mean"])), scale=tuple(map(float, data["scale"])), weights=tuple(map(float, data["weights"])),
                       bias=float(data["bias"]), refer_above=float(data["refer_above"]), reject_above=float(data["reject_above"]),
                       fitted_on=dict(data.get("fitted_on", {})), digest=str(data.get("digest", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"the model's population check is malformed ({type(exc).__name__})") from None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("mean", "scale", "weights"):
            data[key] = list(data[key])
        return data

    def expected_digest(self, onnx_sha256: str) -> str:
        body = {k: v for k, v in self.to_dict().items() if k != "digest"}
        return hashlib.sha256((onnx_sha256 + json.dumps(body, sort_keys=True)).encode()).hexdigest()

    def sealed(self, onnx_sha256: str) -> PopulationCheck:
        return PopulationCheck(**{**asdict(self), "digest": self.expected_digest(onnx_sha256)})

    def verify(self, onnx_sha256: str, model_name: str) -> None:
        if self.digest != self.expected_digest(onnx_sha256):
            raise ModelError(f"the population check in the contract of {model_name} does not belong to this model file: it was edited or mixed up")
        if not len(self.mean) == len(self.scale) == len(self.weights):
            raise ModelError(f"the population check of {model_name} is malformed (its vectors differ in length)")

    def scores(self, pooled: np.ndarray) -> np.ndarray:
        """(N, C) pooled features -> (N,) logits."""
        standardised = (np.asarray(pooled, np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        return standardised @ np.asarray(self.weights) + self.bias

    def score(self, feature_map: np.ndarray) -> float:
        """One film's logit from its (1, C, H, W) last feature map, pooled as the head pools it."""
        return float(self.scores(pooled_features(feature_map))[0])

    def refusal(self, score: float, stated_age: float | None) -> tuple[str, str] | None:
        """(decision, reason) for a film outside the population, or None. A stated age of 1-5 lifts
        the referral band, never the rejection."""
        if score > self.reject_above:
            return "REJECTED", ADULT_FILM
        if score > self.refer_above and not age_in_scope(stated_age):
            return "REFER", OLDER_FILM
        return None


def scope_line(check: PopulationCheck | None) -> str:
    """One line for every front end's "about" text."""
    films = "and films that look like an adult's, are REJECTED" if check else "are REJECTED (this model has no image check for adults' films)"
    return f"children aged 1-5 only: other ages (stated or in DICOM), body parts, views and modalities, {films}"


def pooled_features(feature_map: np.ndarray) -> np.ndarray:
    """(N, C, H, W) last feature map -> (N, C): the global average pool the model's head sees."""
    return np.asarray(feature_map, np.float64).mean(axis=(2, 3))
