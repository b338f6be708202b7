"""pneumo-tune: a real (tiny) Optuna study on fixture images that resumes from its database and
writes a config pneumo-train accepts; and the LP-FT / WiSE-FT machinery its search space uses."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import torch

from pneumo.training.checkpoint import load_checkpoint
from pneumo.training.config import ConfigError, TrainConfig, config_from_dict, load_yaml
from pneumo.training.fit.train_cli import main as train_main
from pneumo.training.fit.trainer import seed_everything
from pneumo.training.fit.tune import check_base, main, suggest, trial_config
from pneumo.training.fit.wise_ft import interpolate_states
from pneumo.training.models import create_model

TINY = ("--model", "custom_cnn", "--pretrained", "none", "--input-size", "64", "--val-fraction", "0.34", "--batch-size", "4", "--threads", "1")


@pytest.mark.slow  # trains six tiny networks
def test_a_study_runs_resumes_from_its_database_and_writes_a_config_pneumo_train_accepts(kermany_mini, tmp_path):
    out, storage = tmp_path / "study", f"sqlite:///{tmp_path / 'tune.db'}"
    common = ["--data", str(kermany_mini), *TINY, "--epochs", "2", "--storage", storage, "--out", str(out), "--study-name", "t"]
    assert main([*common, "--trials", "2"]) == 0
    assert main([*common, "--trials", "1"]) == 0  # --trials counts the trials this call adds
    study = optuna.load_study(study_name="t", storage=storage)
    assert len(study.trials) == 3
    assert {t.number for t in study.trials} == {0, 1, 2}
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert finished and all(0 < t.value < 5 and 0 <= t.user_attrs["auc"] <= 1 for t in finished)
    best = study.best_trial
    # the objective is the validation NLL of the trial's best.pt
    best_checkpoint = load_checkpoint(out / f"trial_{best.number:04d}" / "best.pt")
    assert best.value == pytest.approx(best_checkpoint["val_metrics"]["loss"])
    config = config_from_dict(load_yaml(out / "best_config.yaml"))
    assert config.lr == pytest.approx(best.params["lr"]) and config.augment == best.params["augment"]
    assert config.monitor == "loss" and config.out == ""
    assert (out / "history.png").stat().st_size > 1000
    # Parameter importances need two finished trials: the plot is there exactly when they are.
    assert (out / "importance.png").is_file() == (len(finished) >= 2)
    assert len(finished) < 2 or (out / "importance.png").stat().st_size > 1000
    assert (out / "best_trial.json").is_file()
    # and pneumo-train really trains from it
    assert train_main(["--config", str(out / "best_config.yaml"), "--out", str(tmp_path / "retrain")]) == 0


def test_the_search_space_covers_lp_ft_and_wise_ft_for_pretrained_models():
    base = TrainConfig(model="efficientnet_lite0", epochs=4)
    fixed = optuna.trial.FixedTrial({"lr": 1e-3, "weight_decay": 1e-4, "label_smoothing": 0.1, "augment": "robust",
                                     "transfer": "lp_ft", "probe_epochs": 2, "wise_ft": 0.5})
    params = suggest(fixed, base)
    assert params["strategy"] == "full" and params["probe_epochs"] == 2 and params["wise_ft"] == 0.5
    assert trial_config(base, params, Path("x")).monitor == "loss"
    probe = suggest(optuna.trial.FixedTrial({"lr": 1e-3, "weight_decay": 1e-4, "label_smoothing": 0.0, "augment": "none",
                                             "transfer": "linear_probe"}), base)
    assert probe["strategy"] == "feature_extraction" and probe["wise_ft"] == 1.0
    with pytest.raises(ValueError):  # a network trained from scratch offers no linear probe
        suggest(optuna.trial.FixedTrial({"lr": 1e-3, "weight_decay": 1e-4, "label_smoothing": 0.0, "augment": "none",
                                         "transfer": "linear_probe"}), TrainConfig(model="custom_cnn", pretrained="none"))
    with pytest.raises(ConfigError, match="LP-FT"):
        check_base(TrainConfig(model="efficientnet_lite0", epochs=1))


@pytest.mark.slow  # trains
@pytest.mark.parametrize("monitor", ["auc", "loss"])
def test_lp_ft_probes_the_head_first_and_wise_ft_mixes_with_the_probed_start(monitor, kermany_mini, tmp_path):
    out = tmp_path / "lpft"
    assert train_main(["--data", str(kermany_mini), "--out", str(out), *TINY, "--epochs", "2", "--probe-epochs", "1",
                       "--wise-ft", "0.5", "--keep-epoch-checkpoints", "--monitor", monitor]) == 0
    probed, tuned, best = (load_checkpoint(out / name) for name in ("epoch_01.pt", "epoch_02.pt", "best.pt"))
    seed_everything(42)
    initial = create_model("custom_cnn", 2, "none", 0.5).state_dict()
    backbone = [k for k in initial if k.startswith("backbone.")]
    for key in backbone:  # the probe epoch trains the head alone; frozen BatchNorm statistics stay too
        torch.testing.assert_close(probed["train_state"][key], initial[key], msg=key)
    assert any(not torch.equal(probed["train_state"][k], initial[k]) for k in initial if k.startswith("classifier."))
    assert any(not torch.equal(tuned["train_state"][k], probed["train_state"][k]) for k in backbone)  # then everything trains
    # WiSE-FT's start is the probed network; it travels in the checkpoints for resume, not in the result
    for key, tensor in probed["model_state"].items():
        torch.testing.assert_close(tuned["wise_ft_start"][key], tensor, msg=key)
    assert "wise_ft_start" not in best
    # The best epoch is the one the run's own history scores best (AUC up, loss down; the first on a
    # tie); whichever it is, best.pt is the mix of the probed start and the fine-tuned epoch 2.
    scores = [row[f"val_{monitor}"] for row in json.loads((out / "history.json").read_text())]
    assert len(scores) == 2
    best_epoch = scores.index(max(scores) if monitor == "auc" else min(scores)) + 1
    assert load_checkpoint(out / "last.pt")["run_state"]["best_epoch"] == best_epoch
    expected = interpolate_states(probed["model_state"], tuned["model_state"], 0.5)
    for key, tensor in expected.items():
        torch.testing.assert_close(best["model_state"][key], tensor, msg=key)
    assert best["wise_ft"]["alpha"] == 0.5 and best["wise_ft"]["fine_tuned_epoch"] == 2
    assert best["wise_ft"]["fine_tuned_val_metrics"]["loss"] == pytest.approx(tuned["val_metrics"]["loss"])
    assert best["val_metrics"]["loss"] != pytest.approx(tuned["val_metrics"]["loss"], abs=1e-6)  # re-scored after mixing
