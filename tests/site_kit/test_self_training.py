"""SHOT self-training at a site: what it trains, what it leaves alone, and the site's share it aims for."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pneumo.site_kit.adapt import batchnorm_statistics
from pneumo.site_kit.self_training import centroid_pseudo_labels, self_train, site_prior
from pneumo.training.models import create_model


def two_clusters(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = (rng.random(n) < 0.5).astype(int)
    directions = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    return directions[truth] * rng.uniform(1, 5, (n, 1)) + rng.normal(0, 0.15, (n, 4)), truth


def test_pseudo_labels_follow_the_feature_clusters_where_the_predictions_are_wrong():
    features, truth = two_clusters(200, seed=0)
    # Predictions right for most films but confidently wrong for a fifth of them: the clusters overrule them.
    rng = np.random.default_rng(1)
    wrong = rng.random(200) < 0.2
    p_one = np.where(truth == 1, 0.7, 0.3)
    p_one = np.where(wrong, 1 - np.where(truth == 1, 0.95, 0.05), p_one)
    labels = centroid_pseudo_labels(features, np.column_stack([1 - p_one, p_one]))
    assert (labels == truth).all()
    assert (labels[wrong] != (p_one[wrong] > 0.5)).all()


def test_a_class_no_film_is_predicted_gets_no_centroid():
    features, _ = two_clusters(50, seed=2)
    labels = centroid_pseudo_labels(features, np.column_stack([np.ones(50), np.zeros(50)]))
    assert (labels == 0).all()


def test_the_site_prior_puts_normal_at_one_minus_the_share():
    assert torch.allclose(site_prior(0.2, 2), torch.tensor([0.8, 0.2]))
    assert torch.allclose(site_prior(0.6, 3), torch.tensor([0.4, 0.3, 0.3]))


@pytest.fixture
def small_model_and_films():
    torch.manual_seed(0)
    model = create_model("custom_cnn", 2, dropout=0.0).eval()
    films = np.random.default_rng(0).normal(0, 1, (48, 3, 48, 48)).astype(np.float32)
    return model, films


def mean_pneumonia_share(model, films: np.ndarray) -> float:
    with torch.no_grad():
        return float(torch.softmax(model(torch.from_numpy(films)), dim=1)[:, 1].mean())


def test_self_training_changes_the_backbone_only(small_model_and_films):
    model, films = small_model_and_films
    classifier = {k: v.clone() for k, v in model.classifier.state_dict().items()}
    statistics = batchnorm_statistics(model)
    backbone = [p.detach().clone() for p in model.backbone.parameters()]
    losses = self_train(model, films, prevalence=0.5, temperature=1.0, epochs=2)
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert all(torch.equal(v, model.classifier.state_dict()[k]) for k, v in classifier.items())
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(statistics, batchnorm_statistics(model), strict=True))
    assert any(not torch.equal(before, after) for before, after in zip(backbone, model.backbone.parameters(), strict=True))
    assert not model.training and all(p.requires_grad for p in model.parameters())


def test_self_training_moves_the_mean_prediction_towards_the_sites_share(small_model_and_films):
    """The same films and start: a site read as 10% pneumonia ends lower than one read as 90%."""
    model, films = small_model_and_films
    low, high = create_model("custom_cnn", 2, dropout=0.0).eval(), create_model("custom_cnn", 2, dropout=0.0).eval()
    low.load_state_dict(model.state_dict())
    high.load_state_dict(model.state_dict())
    self_train(low, films, prevalence=0.1, temperature=1.0, epochs=3)
    self_train(high, films, prevalence=0.9, temperature=1.0, epochs=3)
    assert mean_pneumonia_share(low, films) < mean_pneumonia_share(model, films) < mean_pneumonia_share(high, films)
