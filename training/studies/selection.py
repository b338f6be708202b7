"""``python -m pneumo.training.studies.selection``: the decision of docs/experiments/2026-12-02-selection-rule.md.

Candidates built from the shipped default without new training (the ensemble, each member alone,
WiSE-FT of member 1, a linear probe on frozen ImageNet features), scored by validation NLL clean
and under the seeded synthetic shift, each with a temperature cross-fitted over validation
patients. Prints the table and the decision the committed rule gives; test is never read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pneumo.site_kit.adapt import adapt_batchnorm
from pneumo.site_kit.study import save_study
from pneumo_runtime.predictor import default_model_path
from pneumo_runtime.torch_twin import torch_twin

WISE_ALPHAS = (0.5, 0.8)
BN_IMAGES = 512
PROBE_IMAGES = 1500
ENSEMBLE_MARGIN = 0.05  # the ensemble must beat the best single network by 5% of its score


class Pooled(nn.Module):
    """A backbone's globally average-pooled features: what a linear head sees."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x).mean(dim=(2, 3))


def cross_fitted_scores(logits: dict[str, np.ndarray], labels: np.ndarray, folds: list[np.ndarray]) -> dict[str, float]:
    """Temperature fitted on one half of the validation patients (clean), applied to the other."""
    from pneumo.training.calibration.fitting import fit_temperature, negative_log_likelihood, probabilities_from_logits
    from pneumo.training.evaluation.metrics import auc_roc, brier_score

    scores: dict[str, float] = {}
    for kind in ("clean", "shift"):
        nll, brier, probabilities = 0.0, 0.0, np.zeros((len(labels), 2))
        for scored, fitted in (folds, folds[::-1]):
            temperature = fit_temperature(logits["clean"][fitted], labels[fitted])
            nll += negative_log_likelihood(logits[kind][scored], labels[scored], temperature) * len(scored)
            probabilities[scored] = probabilities_from_logits(logits[kind][scored], temperature)
            brier += brier_score(labels[scored], probabilities[scored]) * len(scored)
        scores.update({f"{kind}_nll": nll / len(labels), f"{kind}_brier": brier / len(labels), f"{kind}_auc": auc_roc(labels, probabilities)})
    scores["score"] = (scores["clean_nll"] + scores["shift_nll"]) / 2
    return scores


def wise_ft(fine_tuned, alpha: float, train_batch: np.ndarray):
    """WiSE-FT between ImageNet and the fine-tuned member (``fit/wise_ft.py``): the backbone moves
    from its ImageNet weights towards the fine-tuned ones by ``alpha``, the head stays fine-tuned,
    and the BatchNorm statistics are re-estimated on ``train_batch``."""
    from pneumo.training.fit.wise_ft import interpolate_states
    from pneumo.training.models import create_model

    imagenet = create_model("efficientnet_lite0", 2, pretrained="imagenet").backbone.state_dict()
    tuned = fine_tuned.state_dict()
    start = {k: imagenet[k.removeprefix("backbone.")] if k.startswith("backbone.") else v for k, v in tuned.items()}
    mixed = create_model("efficientnet_lite0", 2, pretrained="none")
    mixed.load_state_dict(interpolate_states(start, tuned, alpha))
    adapt_batchnorm(mixed, train_batch)  # resets the running statistics: their interpolation does not matter
    return mixed.eval()


def run(data: Path, checkpoint_path: Path, threads: int) -> dict:
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from pneumo.training.checkpoint import load_checkpoint, rebuild_model
    from pneumo.training.config import config_from_dict
    from pneumo.training.data.dataset import XrayDataset
    from pneumo.training.data.split import patient_folds, select_samples
    from pneumo.training.ensemble_member import single_member
    from pneumo.training.fit.trainer import ValidationScorer
    from pneumo.training.models import create_model

    torch.set_num_threads(threads)
    loaded = rebuild_model(load_checkpoint(checkpoint_path))
    config = config_from_dict({**loaded.checkpoint["config"], "data": str(data), "shift_validation": True})
    train_samples, val_samples = select_samples(config)
    val_set = XrayDataset(val_samples, loaded.preprocess)
    scorer = ValidationScorer(val_set, config, torch.device("cpu"))
    labels = val_set.labels
    index = {s.path: i for i, s in enumerate(val_set.samples)}
    halves = patient_folds(val_set.samples, 2, config.split_seed)[0]
    folds = [np.array([index[s.path] for s in half]) for half in halves]
    results, log = {}, lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731

    pooled = scorer.logits(Pooled(loaded.model.backbone))  # both members' pooled features, clean and shifted
    head = loaded.model.classifier.fc
    results["A: default (two-member ensemble)"] = cross_fitted_scores(
        {k: (torch.from_numpy(v) @ head.weight.T + head.bias).detach().numpy() for k, v in pooled.items()}, labels, folds)
    log(f"A {results['A: default (two-member ensemble)']}")
    members = [single_member(loaded.model, i, loaded.config.model) for i in (0, 1)]
    width = members[0].classifier.fc.in_features
    for i, member in enumerate(members):
        fc = member.classifier.fc
        logits = {k: (torch.from_numpy(v[:, i * width:(i + 1) * width]) @ fc.weight.T + fc.bias).detach().numpy() for k, v in pooled.items()}
        results[f"B{i + 1}: member {i + 1} alone"] = cross_fitted_scores(logits, labels, folds)
        log(f"B{i + 1} {results[f'B{i + 1}: member {i + 1} alone']}")
    rng = np.random.default_rng(config.split_seed)
    chosen = [train_samples[i] for i in rng.choice(len(train_samples), size=min(PROBE_IMAGES, len(train_samples)), replace=False)]
    train_set = XrayDataset(chosen, loaded.preprocess)
    train_batch = np.stack([train_set[i][0].numpy() for i in range(len(train_set))])
    for alpha in WISE_ALPHAS:
        name = f"C: WiSE-FT of member 1, alpha {alpha}"
        results[name] = cross_fitted_scores(scorer.logits(wise_ft(members[0], alpha, train_batch[:BN_IMAGES])), labels, folds)
        log(f"{name} {results[name]}")
    imagenet = Pooled(create_model("efficientnet_lite0", 2, pretrained="imagenet").backbone).eval()
    with torch.no_grad():
        train_features = np.concatenate([imagenet(torch.from_numpy(train_batch[i:i + 64])).numpy() for i in range(0, len(train_batch), 64)])
    groups = [s.patient for s in train_set.samples]
    probe = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=10, cv=list(GroupKFold(5).split(train_features, train_set.labels, groups)),
                                                                 scoring="neg_log_loss", max_iter=2000))
    probe.fit(train_features, train_set.labels)
    val_features = scorer.logits(imagenet)
    # decision_function gives the log-odds; as two-class logits [0, z] the softmax is the probe's probability.
    probe_logits = {k: np.stack([np.zeros(len(v)), probe.decision_function(v)], axis=1) for k, v in val_features.items()}
    results["D: linear probe on ImageNet features"] = cross_fitted_scores(probe_logits, labels, folds)
    log(f"D {results['D: linear probe on ImageNet features']}")
    return {"validation_images": int(len(labels)), "candidates": results, "decision": decide(results)}


def decide(results: dict[str, dict]) -> dict:
    ensemble = results["A: default (two-member ensemble)"]["score"]
    singles = {name: r["score"] for name, r in results.items() if not name.startswith("A:")}
    best = min(singles, key=singles.get)
    keep_ensemble = ensemble < singles[best] * (1 - ENSEMBLE_MARGIN)
    return {"best_single": best, "best_single_score": singles[best], "ensemble_score": ensemble,
            "ensemble_gain": 1 - ensemble / singles[best], "keep_ensemble": bool(keep_ensemble),
            "verdict": "the ensemble stays" if keep_ensemble else f"{best} becomes the default, if it passes the further checks"}


def candidate_table(candidates: dict[str, dict | None]) -> list[str]:
    """The candidates' scores as Markdown table lines; a candidate without scores is "not run"."""
    lines = ["| candidate | score | NLL clean | NLL shifted | Brier clean | Brier shifted | AUC clean | AUC shifted |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in candidates.items():
        if r is None:
            lines.append(f"| {name} | not run | | | | | | |")
            continue
        lines.append(f"| {name} | {r['score']:.4f} | {r['clean_nll']:.4f} | {r['shift_nll']:.4f} | {r['clean_brier']:.4f} | "
                     f"{r['shift_brier']:.4f} | {r['clean_auc']:.4f} | {r['shift_auc']:.4f} |")
    return lines


def markdown(study: dict) -> str:
    lines = candidate_table(study["candidates"])
    d = study["decision"]
    lines += ["", f"Ensemble {d['ensemble_score']:.4f} against best single network ({d['best_single']}) {d['best_single_score']:.4f}: "
              f"gain {d['ensemble_gain']:.1%} (needs > {ENSEMBLE_MARGIN:.0%}). Verdict: {d['verdict']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pneumo.training.studies.selection", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the Kermany folder the default was trained on (its train/ only)")
    parser.add_argument("--checkpoint", type=Path, default=torch_twin(default_model_path()))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    save_study(args.out, "selection", run(args.data, args.checkpoint, args.threads), markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
