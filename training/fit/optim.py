"""Optimizers and learning-rate schedules, all stepped through one small interface."""

from __future__ import annotations

import math

import torch
from torch.optim import SGD, Adam, AdamW, Optimizer, RMSprop
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau, StepLR

from ..config import TrainConfig


def build_optimizer(groups: list[dict], config: TrainConfig) -> Optimizer:
    if config.optimizer == "adam":
        return Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True)
    return RMSprop(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


class Schedule:
    """Cosine with warm-up steps per batch; step and plateau step per epoch; none does nothing."""

    def __init__(self, optimizer: Optimizer, config: TrainConfig, steps_per_epoch: int):
        self.kind = config.scheduler
        self.maximise = not config.monitor_lower_is_better
        self.scheduler: LambdaLR | StepLR | ReduceLROnPlateau | None = None
        if self.kind == "cosine":
            total = max(1, config.epochs * steps_per_epoch)
            warmup = int(config.warmup_epochs * steps_per_epoch)
            self.scheduler = LambdaLR(optimizer, lambda step: _warmup_cosine(step, warmup, total))
        elif self.kind == "step":
            self.scheduler = StepLR(optimizer, step_size=config.step_size, gamma=config.step_gamma)
        elif self.kind == "plateau":
            self.scheduler = ReduceLROnPlateau(optimizer, mode="max" if self.maximise else "min", factor=0.1, patience=3)

    def after_batch(self) -> None:
        if self.kind == "cosine":
            self.scheduler.step()

    def after_epoch(self, monitored: float) -> None:
        if self.kind == "step":
            self.scheduler.step()
        elif self.kind == "plateau":
            self.scheduler.step(monitored)

    def state_dict(self) -> dict:
        return self.scheduler.state_dict() if self.scheduler else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scheduler and state:
            self.scheduler.load_state_dict(state)


def _warmup_cosine(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def clip_gradients(parameters, max_norm: float) -> None:
    if max_norm > 0:
        torch.nn.utils.clip_grad_norm_([p for p in parameters if p.grad is not None], max_norm)
