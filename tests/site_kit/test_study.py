"""The site study's cross-fitting, on the real study code and real official test films.

Its figures in the model card rest on two promises: the two halves share no patient, and each half
is scored only with what was fitted on the other (calibration on the other half's labelled films,
batch-norm statistics on the other half's films). The study runs here on 48 official test films
with every fitting step watched: the real functions run, and the test records what each was given.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from pneumo.site_kit import study as site_study
from pneumo.training.data import split
from pneumo_runtime.inputs import model_input

pytestmark = pytest.mark.slow  # runs the torch twin of the shipped model


@pytest.fixture(scope="module")
def site(kermany_224, tmp_path_factory) -> Path:
    """24 normal films and 24 pneumonia films (two of each of 12 patients) from the official test split."""
    root = tmp_path_factory.mktemp("site")
    normals = sorted((kermany_224 / "test" / "NORMAL").glob("*.jpeg"))[:24]
    by_patient = defaultdict(list)
    for path in sorted((kermany_224 / "test" / "PNEUMONIA").glob("*.jpeg")):
        by_patient[path.name.split("_")[0]].append(path)
    pneumonia = [path for films in [f for f in by_patient.values() if len(f) >= 2][:12] for path in films[:2]]
    for label, paths in (("NORMAL", normals), ("PNEUMONIA", pneumonia)):
        (root / "test" / label).mkdir(parents=True)
        for path in paths:
            (root / "test" / label / path.name).symlink_to(path)
    return root


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@pytest.fixture(autouse=True)
def one_epoch_of_self_training(monkeypatch):
    """The real SHOT, one epoch instead of three: these tests are about what is fitted on which films
    (tests/site_kit/test_self_training.py is about self-training itself)."""
    real_self_train = site_study.prevalence_study.self_train
    monkeypatch.setattr(site_study.prevalence_study, "self_train", lambda *a, **k: real_self_train(*a, **k, epochs=1))


def test_halves_are_patient_disjoint_and_every_step_is_fitted_on_the_other_half(site, monkeypatch, tmp_path, capsys):
    """``pneumo-adapt study`` as a user runs it, every fitting step watched; then its JSON and tables."""
    import json

    from pneumo.site_kit.adapt_cli import main as adapt

    folds, fitted, adapted_on, logits_of, pooled_parts = [], [], {}, {}, []
    real_folds, real_recalibration, real_adapt, real_logits, real_pooled = (
        split.patient_folds, site_study.recalibration, site_study.adapt_batchnorm, site_study.torch_logits, site_study.pooled)

    def watched_folds(samples, k, seed):
        folds.append(real_folds(samples, k, seed))
        return folds[-1]

    def watched_recalibration(logits, labels, patients, contract):
        calibration = real_recalibration(logits, labels, patients, contract)
        fitted.append((set(patients), calibration))
        return calibration

    def watched_adapt(model, films):
        adapted_on[id(model)] = digest(films)
        return real_adapt(model, films)

    def watched_logits(model, films):
        logits = real_logits(model, films)
        logits_of[id(logits)] = (adapted_on.get(id(model)), digest(films))
        return logits

    def watched_pooled(parts, intervals=True):
        pooled_parts.append(parts)
        return real_pooled(parts, intervals)

    monkeypatch.setattr(split, "patient_folds", watched_folds)
    monkeypatch.setattr(site_study, "recalibration", watched_recalibration)
    monkeypatch.setattr(site_study, "adapt_batchnorm", watched_adapt)
    monkeypatch.setattr(site_study, "torch_logits", watched_logits)
    monkeypatch.setattr(site_study, "pooled", watched_pooled)
    monkeypatch.setattr(site_study, "DRAWS", 2)  # the curve's draws repeat one mechanism; two show it
    real_methods = site_study.prevalence_study.methods_on_half
    label_free = []

    def watched_methods(model, site_films, site_shipped, scored_films, scored_shipped, contract):
        label_free.append(({digest(film) for film in site_films}, {digest(film) for film in scored_films}))
        return real_methods(model, site_films, site_shipped, scored_films, scored_shipped, contract)

    monkeypatch.setattr(site_study.prevalence_study, "methods_on_half", watched_methods)
    out = tmp_path / "study"
    assert adapt(["study", "--data", str(site), "--out", str(out), "--draws", "2", "--prevalences", "0.3", "--threads", "1"]) == 0
    study = json.loads((out / "site_study.json").read_text())

    # The halves: every film once, no patient on both sides, both classes on each side.
    halves = list(folds[0][0])
    patients = [{s.patient for s in half} for half in halves]
    assert sorted(str(s.path) for half in halves for s in half) == sorted(str(p) for p in site.rglob("*.jpeg"))
    assert not patients[0] & patients[1]
    assert all({s.label for s in half} == {0, 1} for half in halves)
    assert study["data"].endswith(f"halves of {len(halves[0])} and {len(halves[1])} films by patient")
    films = [digest(np.stack([model_input(s.path, site_study.OnnxModel(site_study.resolve_model(None)).contract.preprocess) for s in half]))
             for half in halves]

    # Every scored part: its films are one half, its logits come from a model never adapted on that
    # half, and a refitted calibration was fitted on patients of the other half only.
    by_temperature = {id(calibration["temperature"]): fitted_on for fitted_on, calibration in fitted}
    assert len(pooled_parts) == 2 + 2 * len(site_study.LABELLED_COUNTS) * 2
    refitted = 0
    for parts in pooled_parts:
        assert [set(part[2]) for part in parts] == patients  # half 0, then half 1
        for half, (logits, _labels, part_patients, temperature, _threshold, _cutoff) in enumerate(parts):
            adapted, scored = logits_of[id(logits)]
            assert scored == films[half] and adapted in (None, films[1 - half])
            if id(temperature) in by_temperature:
                assert by_temperature[id(temperature)] <= patients[1 - half] and not by_temperature[id(temperature)] & set(part_patients)
                refitted += 1
    assert refitted == 2 * (2 + 2 * len(site_study.LABELLED_COUNTS) * 2)  # every recalibrated part was checked
    as_is = [row for row in study["rows"] if row["prevalence"] is None]
    assert as_is and all(row["n_images"] == 48 for row in as_is)

    # The label-free methods, as is and resampled: fitted on one half's films, scored on the other's, every time.
    assert len(label_free) == 2 * (1 + 2)  # both halves as scored half: once as is, then twice at 30%
    preprocess = site_study.OnnxModel(site_study.resolve_model(None)).contract.preprocess
    film_sets = [{digest(model_input(s.path, preprocess)) for s in half} for half in halves]
    for call, (site_films, scored_films) in enumerate(label_free):
        scored_half = call % 2  # half 0 is scored first, fitted on half 1
        assert scored_films <= film_sets[scored_half] and site_films <= film_sets[1 - scored_half]
    assert label_free[0] == (film_sets[1], film_sets[0])  # as is: every film of each half
    resampled = [row for row in study["rows"] if row["prevalence"] == 0.3]
    assert {row["setting"] for row in resampled} == set(site_study.prevalence_study.METHODS) and all(row["draws"] == 2 for row in resampled)
    assert study["prevalence_draws"] == 2 and "mean of 2 draws" in site_study.markdown(study)
    assert all(row["n_images"] < 48 for row in resampled)  # normals kept, pneumonia patients drawn


    # The file and the tables in the shape the issue fixed.
    metric = lambda m: isinstance(m, float) or (isinstance(m, dict) and m["low"] <= m["value"] <= m["high"])  # noqa: E731
    for row in study["rows"]:
        assert {"setting", "labelled_films", "prevalence", "auc", "sensitivity", "specificity", "balanced_accuracy", "ece"} <= set(row)
        assert all(metric(row[key]) for key in ("sensitivity", "specificity", "balanced_accuracy"))
    assert {("shipped", None), ("the kit", None), ("the kit", 0.3)} <= {(row["setting"], row["prevalence"]) for row in study["rows"]}
    assert any(row["labelled_films"] for row in study["rows"])
    tables = (out / "site_study.md").read_text()
    assert "| 30% | the kit |" in tables and tables in capsys.readouterr().out

    # 48 films: a 10% share would leave too few films to adapt on.
    for bad in (["--data", str(tmp_path / "nowhere")], ["--data", str(site), "--prevalences", "0.1"]):
        assert adapt(["study", *bad, "--out", str(tmp_path / "bad"), "--draws", "1", "--threads", "1"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("pneumo-adapt study: error:") and len(err.splitlines()) == 1


def test_pneumo_adapt_curve_reads_the_oracle_off_the_cross_fitted_scores(site, tmp_path, capsys):
    """``pneumo-adapt curve``: per label-free method, where its threshold lands and where an oracle's could."""
    import json

    from pneumo.site_kit import operating_curve
    from pneumo.site_kit.adapt_cli import main as adapt

    out = tmp_path / "curve"
    assert adapt(["curve", "--data", str(site), "--out", str(out), "--threads", "1"]) == 0
    curve = json.loads((out / "operating_curve.json").read_text())
    assert [row["setting"] for row in curve["rows"]] == list(operating_curve.METHODS)
    assert (curve["pneumonia_films"], curve["normal_films"]) == (24, 24)
    for row in curve["rows"]:
        best = row["best_specificity_at_sensitivity_0.95"]
        assert best["low"] <= best["value"] <= best["high"]
        # The oracle picks its threshold with the labels, so nothing label-free can beat it at the same sensitivity.
        if row["its_own_threshold"]["sensitivity"] >= 0.95:
            assert row["its_own_threshold"]["specificity"] <= best["value"]
    assert "| the kit + self-training |" in (out / "operating_curve.md").read_text() in capsys.readouterr().out

    assert adapt(["curve", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "bad"), "--threads", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pneumo-adapt curve: error:") and len(err.splitlines()) == 1
