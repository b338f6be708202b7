"""Typed run configuration: YAML fills it, CLI flags override it, unknown keys are errors.

The dataclass is flat on purpose: every field is one CLI flag (``--lr``, ``--no-clahe``), so the
YAML file, the flags and the saved ``config.yaml`` all speak the same names.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import yaml

from pneumo_runtime.errors import PneumoError
from pneumo_runtime.preprocess import ClaheSettings


class ConfigError(PneumoError, ValueError):
    """A configuration that cannot run: unknown key, wrong type, value out of range."""


@dataclass
class TrainConfig:
    # model
    model: str = "efficientnet_lite0"
    pretrained: str = "imagenet"  # "imagenet", "none", or a path to a local weights file
    # A pneumo checkpoint (a run's best.pt, or a shipped .pt) whose weights, single model or logit
    # ensemble, start this run instead of ``pretrained``: continued fine-tuning, e.g. under a new
    # field of view. Its model and classes must match this config's.
    init_from: str = ""
    task: Literal["binary", "three_class"] = "binary"
    dropout: float = 0.5
    # >1: the network averages k x k pixel blocks before its backbone (models/resolution.py), so it
    # sees the image at 1/k of ``input_size`` while its input stays the contract's size.
    input_downsample: int = 1
    # preprocessing (becomes the preprocessing contract of the checkpoint)
    input_size: int = 224
    # CLAHE's defaults are the runtime's (preprocessing is defined once, in pneumo_runtime.preprocess)
    clahe: bool = ClaheSettings.enabled
    clahe_clip_limit: float = ClaheSettings.clip_limit
    clahe_tile_grid: int = ClaheSettings.tile_grid
    ellipse_mask: float = 0.0  # field of view (pneumo_runtime.preprocess): 0 shows the whole square, 1.0 the inscribed ellipse
    # augmentation
    augment: Literal["none", "standard", "strong", "robust"] = "standard"
    # Probability of showing a training image with the film corners of another class's image
    # (dataset.XrayDataset): 0.5 (binary; (K-1)/K for K classes) makes markers and corner text
    # useless as a class cue.
    corner_swap: float = 0.0
    hflip: bool = True
    # transfer strategy
    strategy: Literal["full", "feature_extraction", "last_n", "progressive"] = "full"
    unfreeze_last_n: int = 2
    unfreeze_every: int = 2  # progressive: epochs between unfreezing the next block
    backbone_lr_mult: float = 1.0  # discriminative learning rate for pretrained layers
    # LP-FT (Kumar et al. 2022): the first ``probe_epochs`` epochs train the head alone (a linear
    # probe), whatever ``strategy`` says for the epochs after them.
    probe_epochs: int = 0
    # WiSE-FT (Wortsman et al. 2022): best.pt becomes (1 - wise_ft) * start + wise_ft * fine-tuned
    # weights, "start" being the weights when the backbone begins to train (after the probe).
    # 1.0 keeps the fine-tuned weights. See wise_ft.py.
    wise_ft: float = 1.0
    # loss
    loss: Literal["ce", "focal"] = "ce"
    class_weights: bool = True
    focal_gamma: float = 2.0
    focal_alpha: float | None = None  # weight of the positive class (binary); None: class weights
    label_smoothing: float = 0.0
    # optimisation
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    scheduler: Literal["cosine", "step", "plateau", "none"] = "cosine"
    warmup_epochs: float = 1.0
    step_size: int = 10
    step_gamma: float = 0.1
    epochs: int = 30
    batch_size: int = 32
    grad_clip: float = 1.0
    ema_decay: float = 0.0  # 0 disables; e.g. 0.999 keeps an exponential moving average of weights
    amp: bool = True  # only ever used on a GPU
    # Under torchrun on GPUs, BatchNorm statistics over the global batch (SyncBatchNorm) instead
    # of each process's share. On CPU (gloo) torch has no SyncBatchNorm: per-process statistics.
    sync_batchnorm: bool = True
    # Every BatchNorm layer keeps its running statistics (eval mode) while its scale and shift
    # still train: for small per-process batches, and exact one-process/N-process equivalence.
    freeze_batchnorm: bool = False
    # selection
    monitor: Literal["auc", "loss", "accuracy", "balanced_accuracy", "shift_auc", "shift_loss"] = "auc"
    # Also score validation after seeded acquisition shifts (augment.validation_shift); the
    # shift_* monitors need it and turn it on.
    shift_validation: bool = False
    keep_epoch_checkpoints: bool = False  # epoch_NN.pt beside last.pt, for weight averaging or study
    patience: int = 10
    val_fraction: float = 0.15
    # data and run
    data: str = ""
    val_data: str = ""  # optional CSV/folder used as validation instead of a patient split of train
    max_train_samples: int = 0  # 0 = all; small values make smoke runs
    max_val_samples: int = 0
    seed: int = 42
    # Seed of the validation split (and its capped subset and shifted copy). None: ``seed``.
    # Runs that differ only in ``seed`` but share ``split_seed`` are validated on the same
    # patients, so their ensemble or weight average can be chosen on a clean validation split.
    split_seed: int | None = None
    num_workers: int = 0
    threads: int = 0  # torch intra-op threads; 0 leaves torch's default
    out: str = ""

    def validate(self) -> None:
        for f in fields(self):
            allowed = _literal_choices(_HINTS[f.name])
            value = getattr(self, f.name)
            if allowed and value not in allowed:
                raise ConfigError(f"{f.name}={value!r} is not one of {', '.join(map(str, allowed))}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction={self.val_fraction} must be between 0 and 1")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be at least 1")
        if self.ellipse_mask and not 0.5 <= self.ellipse_mask <= 1.5:
            raise ConfigError(f"ellipse_mask={self.ellipse_mask} must be 0 (off) or between 0.5 and 1.5")
        if not 0.0 <= self.corner_swap <= 1.0:
            raise ConfigError(f"corner_swap={self.corner_swap} must be a probability in [0, 1]")
        if self.corner_swap and 0 < self.ellipse_mask <= 1.0:
            raise ConfigError(f"corner_swap does nothing under ellipse_mask={self.ellipse_mask}, which hides the corners")
        if self.input_downsample < 1 or self.input_size % self.input_downsample:
            raise ConfigError(f"input_downsample={self.input_downsample} must be a whole divisor of input_size={self.input_size}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay={self.ema_decay} must be in [0, 1)")
        if not 0.0 <= self.wise_ft <= 1.0:
            raise ConfigError(f"wise_ft={self.wise_ft} must be a mixing weight in [0, 1]")
        if not 0 <= self.probe_epochs < self.epochs:
            raise ConfigError(f"probe_epochs={self.probe_epochs} must leave fine-tuning epochs (epochs={self.epochs})")

    @property
    def monitor_lower_is_better(self) -> bool:
        return self.monitor.endswith("loss")

    def improves(self, score: float, best: float, min_gain: float = 0.0) -> bool:
        """Whether ``score`` beats ``best`` on the monitor by more than ``min_gain``."""
        return score < best - min_gain if self.monitor_lower_is_better else score > best + min_gain

    @property
    def scores_shifted_validation(self) -> bool:
        return self.shift_validation or self.monitor.startswith("shift_")

    @property
    def validation_seed(self) -> int:
        return self.seed if self.split_seed is None else self.split_seed

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_HINTS = typing.get_type_hints(TrainConfig)


def _literal_choices(annotation: Any) -> tuple[Any, ...]:
    return typing.get_args(annotation) if typing.get_origin(annotation) is Literal else ()


def _coerce(name: str, value: Any) -> Any:
    """Check a YAML value against the field's type; ints are accepted where floats are expected."""
    hint = _HINTS[name]
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)  # Optional[X] or X | None
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name} may not be empty")
    base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
    if typing.get_origin(base) is Literal:
        return value
    if base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, base) and not (base is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{name} must be {base.__name__}, got {type(value).__name__} {value!r}")


def config_from_dict(data: dict[str, Any], base: TrainConfig | None = None) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
    values = (base or TrainConfig()).to_dict()
    values.update({key: _coerce(key, value) for key, value in data.items()})
    config = TrainConfig(**values)
    config.validate()
    return config


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A config file's keys; ``extends: BASE.yaml`` (relative to the file) first loads BASE, whose keys this file overrides."""
    return _load_chain(Path(path), ())


def _load_chain(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in seen:
        chain = " -> ".join(str(p) for p in (*seen, resolved))
        raise ConfigError(f"config {path} extends itself: {chain}")
    data = _read_mapping(path)
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base:
        raise ConfigError(f"config {path}: extends must be the path of one YAML file, got {base!r}")
    return {**_load_chain(path.parent / base, (*seen, resolved)), **data}


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping of keys to values")
    return data


def save_yaml(config: TrainConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per field, defaulting to None so that only flags actually given override YAML."""
    group = parser.add_argument_group("config overrides (each key of the YAML config)")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        hint = _HINTS[f.name]
        choices = _literal_choices(hint)
        if hint is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None)
        elif choices:
            group.add_argument(flag, dest=f.name, choices=choices, default=None)
        else:
            base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
            group.add_argument(flag, dest=f.name, type=base, default=None)


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}
