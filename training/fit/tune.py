"""``pneumo-tune``: an Optuna search over the training recipe, scored on the validation split only.

Every trial is an ordinary run (``Trainer``) of the given config with some settings drawn by
Optuna's sampler (TPE) and stopped early by its pruner when its per-epoch validation NLL falls
behind. The objective is the validation NLL of the trial's best.pt (selected by that NLL; after
WiSE-FT where the trial mixes), the metric that keeps ranking models once AUC saturates near 1;
AUC is stored beside it as a user attribute. The test split is never read.

The study lives in a database (``--storage``: SQLite or any RDB URL Optuna accepts), so a search
stops and resumes, and workers on several machines add trials to the same study; each call adds
``--trials`` trials. At the end the best trial is written as ``best_config.yaml`` (a
``pneumo-train --config`` file) with Optuna's history and importance plots.

    pneumo-tune --config configs/release/binary.yaml --data ../shared/data/kermany_224 \\
        --trials 20 --epochs 3 --storage sqlite:///runs/tune/study.db --out runs/tune
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from pneumo_runtime.errors import PneumoError
from pneumo_runtime.json_file import write_json

from ..checkpoint import CheckpointError
from ..config import ConfigError, TrainConfig, add_config_flags, config_from_dict, load_yaml, overrides_from_args, save_yaml
from ..data.samples import DataError
from ..models import PretrainedWeightsError, UnknownModelError

AUGMENTATION_LEVELS = ("none", "standard", "strong", "robust")
TRANSFERS = ("linear_probe", "lp_ft", "full")
PRUNERS = ("median", "hyperband")
# What every trial sets regardless of the config: the objective selects the epoch, and trials
# keep no per-epoch checkpoints (disk), and are not calibrated (best_config.yaml's run will be).
TRIAL_FIXED = {"monitor": "loss", "keep_epoch_checkpoints": False}


def transfers_for(base: TrainConfig) -> tuple[str, ...]:
    """A network trained from scratch has nothing to probe: it can only be trained in full."""
    pretrained = base.pretrained != "none" or bool(base.init_from)
    return TRANSFERS if pretrained else ("full",)


def suggest(trial: Any, base: TrainConfig) -> dict[str, Any]:
    """The config keys one trial changes: optimisation, regularisation, augmentation, transfer."""
    params: dict[str, Any] = {
        "lr": trial.suggest_float("lr", 1e-5, 1e-2, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True),
        "label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.2),
        "augment": trial.suggest_categorical("augment", AUGMENTATION_LEVELS),
    }
    transfer = trial.suggest_categorical("transfer", transfers_for(base))
    if transfer == "linear_probe":
        params.update(strategy="feature_extraction", probe_epochs=0, wise_ft=1.0)
    elif transfer == "lp_ft":  # probe the head, fine-tune everything, then mix with the probed start
        params.update(strategy="full", probe_epochs=trial.suggest_int("probe_epochs", 1, base.epochs - 1),
                      wise_ft=trial.suggest_float("wise_ft", 0.1, 1.0))
    else:
        params.update(strategy="full", probe_epochs=0, wise_ft=1.0)
    return params


def check_base(base: TrainConfig) -> None:
    if "lp_ft" in transfers_for(base) and base.epochs < 2:
        raise ConfigError("tuning a pretrained model searches LP-FT, which needs --epochs 2 or more")


def make_pruner(name: str, epochs: int):
    import optuna

    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs)
    # Once three trials have finished, a trial whose validation NLL after an epoch is worse than
    # the median of the earlier trials after that epoch stops; from the first epoch on, because
    # short searches have few epochs to spare.
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)


def open_study(storage_url: str, name: str, pruner: str, epochs: int):
    import optuna

    engine_kwargs = {"connect_args": {"timeout": 60}} if storage_url.startswith("sqlite") else None
    # Heartbeats let a worker that died (killed, machine lost) be noticed: its trial is marked
    # failed and retried once instead of staying "running" forever.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(
            storage_url, engine_kwargs=engine_kwargs, heartbeat_interval=60, grace_period=300,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))
    return optuna.create_study(storage=storage, study_name=name, direction="minimize", load_if_exists=True,
                               pruner=make_pruner(pruner, epochs))


def trial_config(base: TrainConfig, params: dict[str, Any], out_dir: Path) -> TrainConfig:
    return config_from_dict({**base.to_dict(), **TRIAL_FIXED, **params, "out": str(out_dir)})


def make_objective(base: TrainConfig, out: Path):
    import optuna

    from ..checkpoint import load_checkpoint
    from .trainer import Trainer

    def objective(trial: optuna.Trial) -> float:
        config = trial_config(base, suggest(trial, base), out / f"trial_{trial.number:04d}")
        trial.set_user_attr("config", config.to_dict())

        def report(epoch: int, val: dict[str, float]) -> None:
            trial.report(val["loss"], step=epoch + 1)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation NLL {val['loss']:.4f} after epoch {epoch + 1}")

        Trainer(config, Path(config.out), epoch_callback=report).fit()
        best = load_checkpoint(Path(config.out) / "best.pt")["val_metrics"]
        trial.set_user_attr("auc", best["auc"])
        trial.set_user_attr("best_epoch", best["epoch"])
        return best["loss"]

    return objective


def write_results(study, out: Path) -> dict[str, Any] | None:
    """best_config.yaml, best_trial.json and the plots; None while no trial has completed."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return None
    best = study.best_trial
    config = config_from_dict({**best.user_attrs["config"], "out": ""})
    path = out / "best_config.yaml"
    save_yaml(config, path)
    header = (f"# pneumo-tune study '{study.study_name}', trial {best.number} of {len(study.trials)}: validation NLL "
              f"{best.value:.4f}, AUC {best.user_attrs.get('auc', float('nan')):.4f} (validation split of train)\n")
    path.write_text(header + path.read_text())
    counts = {state.name.lower(): sum(t.state == state for t in study.trials) for state in optuna.trial.TrialState}
    summary = {"study": study.study_name, "trials": counts, "best_trial": best.number, "validation_nll": best.value,
               "validation_auc": best.user_attrs.get("auc"), "best_epoch": best.user_attrs.get("best_epoch"),
               "params": best.params, "config": str(path)}
    write_json(out / "best_trial.json", summary)
    write_plots(study, out, len(complete))
    return summary


def write_plots(study, out: Path, completed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as optuna_plots

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    plots = {"history.png": optuna_plots.plot_optimization_history}
    if completed >= 2:  # importances need at least two completed trials
        plots["importance.png"] = optuna_plots.plot_param_importances
    for name, plot in plots.items():
        try:
            axes = plot(study)
        except (ValueError, RuntimeError) as exc:  # e.g. every completed trial drew the same values
            print(f"pneumo-tune: {name} not drawn: {exc}", file=sys.stderr)
            continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.savefig(out / name, dpi=120, bbox_inches="tight")
        plt.close(figure)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pneumo-tune",
        description="Search training settings with Optuna on the patient-grouped validation split (research use).",
        epilog="Example: pneumo-tune --config configs/release/binary.yaml --data ../shared/data/kermany_224 "
               "--trials 20 --epochs 3 --storage sqlite:///runs/tune/study.db --out runs/tune",
    )
    parser.add_argument("--config", type=Path, help="YAML file with the settings the search starts from")
    parser.add_argument("--trials", type=int, required=True, help="trials this call adds to the study (0: only write the results)")
    parser.add_argument("--storage", help="Optuna storage URL, e.g. sqlite:///tune.db (default: sqlite in --out)")
    parser.add_argument("--study-name", help="name of the study in the storage (default: the config file's name, or the model)")
    parser.add_argument("--timeout", type=float, help="start no new trial after this many seconds (the running one finishes)")
    parser.add_argument("--pruner", choices=PRUNERS, default="median", help="stops trials whose per-epoch validation NLL falls behind")
    add_config_flags(parser)  # --data, --epochs, --out, --threads, --max-train-samples, ...
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        base = config_from_dict({**(load_yaml(args.config) if args.config else {}), **overrides_from_args(args)})
        if not base.data:
            raise ConfigError("no data: give --data DIR_OR_CSV or set 'data' in the config")
        if not base.out:
            raise ConfigError("give --out DIR: the folder for the trials and the best config")
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ConfigError("pneumo-tune runs one trial per process: start several workers on one --storage instead of torchrun")
        if args.trials < 0:
            raise ConfigError("--trials counts the trials to add; it cannot be negative")
        check_base(base)
        try:
            import optuna  # noqa: F401  (the extra may be missing: say so in one line)
        except ImportError:
            raise ConfigError("pneumo-tune needs Optuna: pip install 'pneumo[tune]'") from None
        out = Path(base.out)
        out.mkdir(parents=True, exist_ok=True)
        storage = args.storage or f"sqlite:///{(out / 'study.db').resolve()}"
        name = args.study_name or (args.config.stem if args.config else base.model)
        study = open_study(storage, name, args.pruner, base.epochs)
        before = len(study.trials)
        study.optimize(make_objective(base, out), n_trials=args.trials, timeout=args.timeout, gc_after_trial=True)
        summary = write_results(study, out)
    except (ConfigError, DataError, CheckpointError, PretrainedWeightsError, UnknownModelError, PneumoError) as exc:
        print(f"pneumo-tune: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pneumo-tune: interrupted; run the same command again to continue the study", file=sys.stderr)
        return 130
    if summary is None:
        print(f"pneumo-tune: no trial of study '{name}' has completed yet", file=sys.stderr)
        return 1
    print(f"study '{name}': {len(study.trials) - before} trial(s) added, {len(study.trials)} in all; best trial "
          f"{summary['best_trial']}: validation NLL {summary['validation_nll']:.4f}, AUC {summary['validation_auc']:.4f}; "
          f"config in {summary['config']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
