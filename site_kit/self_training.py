"""Self-training on a site's unlabelled films: SHOT (Liang, Hu and Feng 2020), matched to the site's share.

The backbone learns from the site's films with the classifier frozen, so the site's features move
towards what the classifier already separates. Three terms (docs/experiments/2026-12-07-site-kit-self-training.md):

- each film's prediction entropy, low: a confident reading of every film;
- the mean prediction near the site's estimated class shares (SHOT pulls it to uniform; under
  label shift a screening site has few positives), which stops the entropy term from calling every
  film one class, the collapse plain entropy minimisation (TENT) showed here;
- cross-entropy to pseudo-labels from clustering the site's features around prediction-weighted
  class centroids.

Batch-norm running statistics stay as they are (the caller sets them first); batches of 32 are too
small to re-estimate them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

EPOCHS = 3
BATCH = 32
LEARNING_RATE = 1e-3
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-3
PSEUDO_LABEL_WEIGHT = 0.3


def site_prior(prevalence: float, classes: int) -> torch.Tensor:
    """Class shares with NORMAL (class 0) at 1 − prevalence and the pneumonia classes sharing the rest alike."""
    prevalence = min(max(prevalence, 1e-3), 1 - 1e-3)
    return torch.tensor([1 - prevalence] + [prevalence / (classes - 1)] * (classes - 1), dtype=torch.float32)


@torch.no_grad()
def features_and_probabilities(model: nn.Module, films: np.ndarray, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """Pooled backbone features (the classifier's input) and the predictions, for every film."""
    features, probabilities = [], []
    for start in range(0, len(films), BATCH):
        feature_map = model.features(torch.from_numpy(films[start:start + BATCH]))
        features.append(torch.flatten(model.classifier.pool(feature_map), 1).numpy())
        probabilities.append(torch.softmax(model.classifier(feature_map) / temperature, dim=1).numpy())
    return np.concatenate(features), np.concatenate(probabilities)


def centroid_pseudo_labels(features: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """SHOT's labels: nearest prediction-weighted class centroid by cosine, then one refinement with hard labels."""
    augmented = np.hstack([features, np.ones((len(features), 1))])  # SHOT appends a constant before normalising
    unit = augmented / np.linalg.norm(augmented, axis=1, keepdims=True)
    weights = probabilities
    labels = None
    for _ in range(2):
        mass = weights.sum(axis=0)
        centroids = (weights.T @ unit) / np.maximum(mass, 1e-9)[:, None]
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
        similarity = unit @ centroids.T
        similarity[:, mass <= 0] = -np.inf  # a class nobody was assigned to has no centroid
        labels = similarity.argmax(axis=1)
        weights = np.eye(probabilities.shape[1])[labels]
    return labels


def self_train(model: nn.Module, films: np.ndarray, prevalence: float, temperature: float, seed: int = 0,
               epochs: int = EPOCHS) -> list[float]:
    """SHOT on ``films`` in place: the backbone's weights change, the classifier and batch-norm statistics do not.

    ``prevalence``: the site's estimated pneumonia share. Returns the mean loss of each epoch. The
    model is left in eval mode with every parameter trainable again.
    """
    model.eval()  # batch-norm layers use their running statistics; dropout stays off
    trained = list(model.backbone.parameters())
    for parameter in model.classifier.parameters():
        parameter.requires_grad_(False)
    optimiser = torch.optim.SGD(trained, lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, nesterov=True)
    rng = np.random.default_rng(seed)
    losses = []
    try:
        with torch.enable_grad():
            for _ in range(epochs):
                features, probabilities = features_and_probabilities(model, films, temperature)
                prior = site_prior(prevalence, probabilities.shape[1])
                pseudo = torch.from_numpy(centroid_pseudo_labels(features, probabilities))
                order = rng.permutation(len(films))
                total = []
                for batch in np.array_split(order, max(1, round(len(films) / BATCH))):
                    logits = model(torch.from_numpy(np.ascontiguousarray(films[batch]))) / temperature
                    log_p = F.log_softmax(logits, dim=1)
                    p = log_p.exp()
                    entropy = -(p * log_p).sum(dim=1).mean()
                    mean = p.mean(dim=0)
                    diversity = (mean * (torch.log(mean + 1e-9) - torch.log(prior))).sum()
                    loss = entropy + diversity + PSEUDO_LABEL_WEIGHT * F.nll_loss(log_p, pseudo[batch])
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    total.append(loss.item())
                losses.append(float(np.mean(total)))
    finally:
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        model.eval()
    return losses
