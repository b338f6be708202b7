"""One training run: data, model, optimisation loop, validation, checkpoints, early stopping."""

from __future__ import annotations

import copy
import csv
import dataclasses
import random
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from pneumo_runtime.decision import softmax
from pneumo_runtime.json_file import write_json
from pneumo_runtime.preprocess import ClaheSettings, PreprocessSettings

from ..checkpoint import classes_for, code_version, ensemble_fields, load_checkpoint, rebuild_model, save_checkpoint
from ..config import ConfigError, TrainConfig, save_yaml
from ..data.augment import build_augmentation, validation_shift
from ..data.dataset import XrayDataset
from ..data.samples import class_counts
from ..data.split import select_samples
from ..log import log
from ..models import PneumoClassifier, create_model
from ..models.ensemble import member_count
from . import distributed
from .curves import plot_curves
from .epoch_metrics import classification_metrics
from .losses import build_loss
from .optim import Schedule, build_optimizer, clip_gradients
from .transfer import apply_strategy, freeze_batchnorm_of_frozen, parameter_groups
from .wise_ft import interpolate_states, snapshot


class ValidationScorer:
    """Scores a model on the validation split and, when the config asks, on its shifted copy.

    One definition for training (every epoch) and weight averaging (every candidate), so both
    rank models by the very same numbers.
    """

    def __init__(self, val_set: XrayDataset, config: TrainConfig, device: torch.device,
                 context: distributed.Distributed | None = None):
        self.device, self.seed = device, config.validation_seed
        self.context = context or distributed.Distributed(device=device)
        self.labels = val_set.labels  # both loaders keep the split's order (no shuffling)
        self.loader = DataLoader(val_set, batch_size=config.batch_size * 2, num_workers=config.num_workers)
        self.shift_loader = None
        if config.scores_shifted_validation:
            shifted = copy.copy(val_set)  # shares the prepared images; only the transform differs
            shifted.augmentation = validation_shift(self.seed)
            self.shift_loader = DataLoader(shifted, batch_size=config.batch_size * 2, num_workers=0)

    def score(self, model: torch.nn.Module) -> dict[str, float]:
        return self.metrics(self.logits(model))

    def logits(self, model: torch.nn.Module) -> dict[str, np.ndarray]:
        """Raw logits on the validation split ("clean") and its shifted copy ("shift").

        A logit ensemble's logits are its members' mean, so combinations score from these
        without running the members again.
        """
        outputs = {"clean": self._logits(model, self.loader)}
        if self.shift_loader is not None:
            self.shift_loader.dataset.augmentation.set_random_seed(self.seed)  # the same shifted images every time
            outputs["shift"] = self._logits(model, self.shift_loader)
        return outputs

    def metrics(self, logits: dict[str, np.ndarray]) -> dict[str, float]:
        metrics = classification_metrics(self.labels, softmax(logits["clean"]))
        if "shift" in logits:
            shifted = classification_metrics(self.labels, softmax(logits["shift"]))
            metrics.update({f"shift_{k}": shifted[k] for k in ("auc", "loss", "accuracy")})
        return metrics

    @torch.no_grad()
    def _logits(self, model: torch.nn.Module, loader: DataLoader) -> np.ndarray:
        """All validation logits, on every process: under torchrun each scores its share, then all are gathered."""
        model.eval()
        if not self.context.enabled:
            return np.concatenate([model(images.to(self.device)).float().cpu().numpy() for images, _ in loader])
        indices, logits = [], []
        for own, images in distributed.iterate_own(loader, self.context):
            indices.append(own)
            logits.append(model(images.to(self.device)).float().cpu().numpy())
        classes = len(logits[0][0]) if logits else 0  # a process can own no image when there are fewer than processes
        own_logits = np.concatenate(logits) if logits else np.zeros((0, classes), np.float32)
        own_indices = np.concatenate(indices) if indices else np.zeros(0, np.int64)
        full = distributed.gather_rows(own_indices, own_logits, len(loader.dataset))
        return full


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def preprocess_for(config: TrainConfig, mean: tuple, std: tuple) -> PreprocessSettings:
    clahe = ClaheSettings(config.clahe, config.clahe_clip_limit, config.clahe_tile_grid)
    return PreprocessSettings(config.input_size, tuple(mean), tuple(std), clahe, config.ellipse_mask)


@dataclass
class RunState:
    epoch: int = 0  # epochs completed
    best_metric: float | None = None
    best_epoch: int = 0
    stale_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    """One run; under torchrun one of its processes (``distributed.py`` says what each one does).

    ``epoch_callback(epoch, val_metrics)`` is called after every epoch (on every process), e.g. by
    a hyper-parameter search that reports to its pruner and may stop the run by raising.
    """

    def __init__(self, config: TrainConfig, out_dir: Path, resume_from: Path | None = None,
                 context: distributed.Distributed | None = None, epoch_callback: Any = None):
        self.config, self.out_dir = config, out_dir
        self.dist = context or distributed.start()
        self.epoch_callback = epoch_callback
        if self.dist.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
        if config.threads:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)
        self.device = self.dist.device
        self.classes = classes_for(config)
        self.model = self._build_model().to(self.device)
        if self.dist.enabled and self.device.type == "cuda" and config.sync_batchnorm:
            # Same parameter objects, so the optimizer below sees them; state_dict keys do not change.
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.ddp_model: torch.nn.Module = self.model
        self._ddp_trainable: tuple[str, ...] | None = None
        self.wise_ft_start: dict[str, torch.Tensor] | None = None  # weights when fine-tuning began (WiSE-FT)
        self.preprocess = preprocess_for(config, self.model.mean, self.model.std)
        self._load_data()
        self.criterion = build_loss(config, list(class_counts(self.train_set.samples, config.task).values())).to(self.device)
        self.optimizer = build_optimizer(parameter_groups(self.model, config), config)
        self.schedule = Schedule(self.optimizer, config, len(self.train_loader))
        self.ema = self._build_ema()
        self.use_amp = config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.state = RunState()
        if resume_from is not None:
            self._resume(resume_from)
        if self.dist.is_main:
            save_yaml(config, out_dir / "config.yaml")

    # ----------------------------------------------------------------- setup
    def _build_model(self) -> PneumoClassifier:
        config = self.config
        if not config.init_from:
            return create_model(config.model, len(self.classes), config.pretrained, config.dropout, config.input_downsample)
        source = rebuild_model(load_checkpoint(config.init_from))
        if source.config.model != config.model or source.classes != self.classes:
            raise ConfigError(f"init_from {Path(config.init_from).name} is a {source.config.model} over {source.classes}, "
                              f"not a {config.model} over {self.classes}")
        model = source.model
        model.classifier.dropout.p = config.dropout
        model.is_pretrained = True  # trained weights: backbone_lr_mult applies to them as to ImageNet's
        log(f"initialised from {Path(config.init_from).name} ({member_count(model)} member(s)), not from {config.pretrained}")
        return model

    def _load_data(self) -> None:
        config = self.config
        train_samples, val_samples = select_samples(config)
        augmentation = build_augmentation(config.augment, config.hflip, seed=config.seed)
        self.train_set = XrayDataset(train_samples, self.preprocess, augmentation, corner_swap=config.corner_swap)
        self.val_set = XrayDataset(val_samples, self.preprocess)
        for name, dataset in (("train", self.train_set), ("validation", self.val_set)):
            counts = class_counts(dataset.samples, config.task)
            patients = len({s.patient for s in dataset.samples})
            log(f"{name}: {dataset.report.summary()}; {patients} patients; " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            if len(dataset) == 0:
                raise ValueError(f"the {name} split has no readable images")
        # The loader draws its base seed from this generator, not from the global one that dropout uses.
        self.generator = torch.Generator().manual_seed(config.seed)
        # batch_size is global: each process takes its share of every step's batch. The sampler
        # (one process included) shuffles by seed + epoch, and its shards together are the
        # one-process batches, so N processes step through the same batches as one.
        world = self.dist.world_size
        local_batch = distributed.local_batch_size(config.batch_size, world)
        self.train_sampler = DistributedSampler(self.train_set, num_replicas=world, rank=self.dist.rank, shuffle=True,
                                                seed=config.seed, drop_last=world > 1)
        self.train_loader = DataLoader(
            self.train_set, batch_size=local_batch, sampler=self.train_sampler,
            drop_last=len(self.train_set) > config.batch_size, num_workers=config.num_workers, generator=self.generator,
        )
        self.validation = ValidationScorer(self.val_set, config, self.device, self.dist)

    def _build_ema(self):
        if self.config.ema_decay <= 0:
            return None
        from timm.utils import ModelEmaV3

        # Warm-up keeps the early average from being dominated by the random initial head.
        return ModelEmaV3(self.model, decay=self.config.ema_decay, use_warmup=True)

    def _resume(self, path: Path) -> None:
        checkpoint = load_checkpoint(path)
        self.model.load_state_dict(checkpoint["train_state"])
        if self.ema is not None and checkpoint.get("ema_state"):
            self.ema.module.load_state_dict(checkpoint["ema_state"])
        self.optimizer.load_state_dict(checkpoint["optimizer_state"])
        self.schedule.load_state_dict(checkpoint["scheduler_state"])
        self.state = RunState(**checkpoint["run_state"])
        self.wise_ft_start = checkpoint.get("wise_ft_start")
        log(f"resumed from {path.name} after epoch {self.state.epoch}")

    # ----------------------------------------------------------------- loop
    def fit(self) -> RunState:
        config = self.config
        while self.state.epoch < config.epochs:
            epoch = self.state.epoch
            probing = epoch < config.probe_epochs  # LP-FT: the head alone first
            trainable = apply_strategy(self.model, dataclasses.replace(config, strategy="feature_extraction") if probing else config, epoch)
            if config.wise_ft < 1.0 and not probing and self.wise_ft_start is None:
                self.wise_ft_start = snapshot(self.eval_model)
            self._wrap_for_data_parallel()
            started = time.perf_counter()
            train_loss, seen = self._train_epoch(epoch, trainable)
            seconds = time.perf_counter() - started
            val = self.validate()
            self._record(epoch, train_loss, val, seen / seconds)
            self.schedule.after_epoch(val[config.monitor])
            if self.epoch_callback is not None:
                self.epoch_callback(epoch, val)
            if self.state.stale_epochs >= config.patience:
                log(f"early stopping: no {config.monitor} improvement for {config.patience} epochs")
                break
        if self.dist.is_main:
            if config.wise_ft < 1.0:
                self._apply_wise_ft()
            plot_curves(self.state.history, self.out_dir / "curves.png")
        distributed.barrier()
        log(f"best {config.monitor} {self.state.best_metric:.4f} at epoch {self.state.best_epoch}; outputs in {self.out_dir}")
        return self.state

    def _wrap_for_data_parallel(self) -> None:
        """Under torchrun, DDP over the parameters that train this epoch (re-wrapped when unfreezing changes them)."""
        if not self.dist.enabled:
            return
        trainable = tuple(name for name, p in self.model.named_parameters() if p.requires_grad)
        if trainable == self._ddp_trainable:
            return
        self.ddp_model = self.model  # let the previous wrapper and its gradient hooks go first
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        self.ddp_model = DistributedDataParallel(self.model, device_ids=device_ids)
        self._ddp_trainable = trainable

    def _train_epoch(self, epoch: int, trainable_blocks: int) -> tuple[float, int]:
        self.generator.manual_seed(self.config.seed + epoch)  # the same batches again after a resume
        self.train_sampler.set_epoch(epoch)
        # Each process draws its own augmentations and dropout masks (rank 0 draws those of a
        # one-process run), so the processes' shards are not augmented in lockstep.
        stream = self.config.seed + epoch + 100_003 * self.dist.rank
        if self.train_set.augmentation is not None:
            self.train_set.augmentation.set_random_seed(stream)
        torch.manual_seed(stream)
        self.model.train()
        freeze_batchnorm_of_frozen(self.model)
        if self.config.freeze_batchnorm:
            for module in self.model.modules():
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()
        total_loss, seen = 0.0, 0
        bar = tqdm(self.train_loader, desc=f"epoch {epoch + 1}/{self.config.epochs} ({trainable_blocks} blocks)", unit="batch",
                   file=sys.stderr, dynamic_ncols=True, disable=not self.dist.is_main)
        first_step = epoch * len(self.train_loader)
        for batch_index, (images, labels) in enumerate(bar):
            images, labels = images.to(self.device), labels.to(self.device)
            with torch.autocast("cuda") if self.use_amp else nullcontext():
                loss = self.criterion(self.ddp_model(images), labels)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            clip_gradients(self.model.parameters(), self.config.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.schedule.after_batch()
            if self.ema is not None:
                self.ema.update(self.model, step=first_step + batch_index)
            total_loss += loss.item() * len(labels)
            seen += len(labels)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", lr=f"{self.optimizer.param_groups[-1]['lr']:.2e}")
        total_loss, seen = distributed.sum_across(total_loss, seen)  # the epoch's loss over all processes' images
        return total_loss / max(seen, 1), int(seen)

    def _apply_wise_ft(self) -> None:
        """best.pt becomes the WiSE-FT mix of the start weights and the fine-tuned ones, scored on the whole validation split (rank 0).

        The fine-tuned weights are best.pt's when its epoch came after the probe, else the last
        epoch's (the end of fine-tuning): a probe that scored best alone does not cancel the mix,
        which often beats both of its ends.
        """
        best = load_checkpoint(self.out_dir / "best.pt")
        if best.get("wise_ft"):
            return  # already mixed (a resumed run that did not improve since)
        tuned = best if best.get("wise_ft_start") is not None else load_checkpoint(self.out_dir / "last.pt")
        if tuned.get("wise_ft_start") is None:
            return  # no epoch fine-tuned the backbone: nothing to mix
        mixed = interpolate_states(tuned["wise_ft_start"], tuned["model_state"], self.config.wise_ft)
        model = copy.deepcopy(self.eval_model)
        model.load_state_dict(mixed)
        val = ValidationScorer(self.val_set, self.config, self.device).score(model)  # the full split, in this process
        before = tuned["val_metrics"]
        log(f"WiSE-FT {self.config.wise_ft:.2f} of epoch {before['epoch']}: val loss {before['loss']:.4f} -> {val['loss']:.4f}, "
            f"auc {before['auc']:.4f} -> {val['auc']:.4f}")
        payload = {key: value for key, value in tuned.items() if key not in ("format", "wise_ft_start")}
        payload.update(model_state=mixed, val_metrics={"epoch": before["epoch"], **val},
                       wise_ft={"alpha": self.config.wise_ft, "fine_tuned_epoch": before["epoch"], "fine_tuned_val_metrics": before})
        save_checkpoint(self.out_dir / "best.pt", payload)

    @property
    def eval_model(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def validate(self) -> dict[str, float]:
        return self.validation.score(self.eval_model)

    # ----------------------------------------------------------------- bookkeeping
    def _record(self, epoch: int, train_loss: float, val: dict[str, float], images_per_second: float) -> None:
        config, state = self.config, self.state
        row = {"epoch": epoch + 1, "train_loss": train_loss, "train_img_per_s": images_per_second,
               "lr": self.optimizer.param_groups[-1]["lr"], **{f"val_{k}": v for k, v in val.items()}}
        state.history.append(row)
        state.epoch = epoch + 1
        score = val[config.monitor]
        improved = state.best_metric is None or config.improves(score, state.best_metric)
        if improved:
            state.best_metric, state.best_epoch, state.stale_epochs = score, epoch + 1, 0
        else:
            state.stale_epochs += 1
        log(f"epoch {epoch + 1}: train loss {train_loss:.4f}, {images_per_second:.1f} img/s; "
            + ", ".join(f"val {k} {v:.4f}" for k, v in val.items()) + (" (best)" if improved else ""))
        if not self.dist.is_main:  # every process keeps the run state; rank 0 alone writes it
            return
        payload = self._payload(val)
        save_checkpoint(self.out_dir / "last.pt", payload)
        if improved:
            save_checkpoint(self.out_dir / "best.pt", payload)
        if config.keep_epoch_checkpoints:
            save_checkpoint(self.out_dir / f"epoch_{epoch + 1:02d}.pt", payload)
        self._write_history()

    def _payload(self, val: dict[str, float]) -> dict[str, Any]:
        state = self.state
        return {
            "model_state": self.eval_model.state_dict(),  # what inference uses (EMA weights if enabled)
            "train_state": self.model.state_dict(),  # what training resumes from
            "ema_state": self.ema.module.state_dict() if self.ema is not None else None,
            **({"wise_ft_start": self.wise_ft_start} if self.wise_ft_start is not None else {}),
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.schedule.state_dict(),
            "run_state": {"epoch": state.epoch, "best_metric": state.best_metric, "best_epoch": state.best_epoch,
                          "stale_epochs": state.stale_epochs, "history": state.history},
            "config": self.config.to_dict(),
            "classes": self.classes,
            **ensemble_fields(self.model),
            "preprocess": self.preprocess.to_dict(),
            "val_metrics": {"epoch": state.epoch, **val},
            "data_summary": self._data_summary(),
            "code_version": code_version(),
        }

    def _data_summary(self) -> dict[str, Any]:
        config = self.config
        summary: dict[str, Any] = {"source": Path(config.data).name, "validation": "patient-grouped split of train" if not config.val_data else Path(config.val_data).name}
        for name, dataset in (("train", self.train_set), ("val", self.val_set)):
            summary[name] = {"images": len(dataset), "patients": len({s.patient for s in dataset.samples}),
                             "skipped": len(dataset.report.skipped), "classes": class_counts(dataset.samples, config.task)}
        return summary

    def _write_history(self) -> None:
        history = self.state.history
        write_json(self.out_dir / "history.json", history)
        with (self.out_dir / "history.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)
