"""Transfer strategies: which backbone blocks train in which epoch, and at which learning rate.

- full: everything trains from the start.
- feature_extraction: the backbone stays frozen; only the head trains.
- last_n: the last ``unfreeze_last_n`` backbone blocks and the head train.
- progressive: the head first, then one more block (from the top) every ``unfreeze_every`` epochs.

Discriminative learning rates (``backbone_lr_mult`` < 1) work with any of them.
"""

from __future__ import annotations

from torch import nn

from ..config import TrainConfig
from ..models import PneumoClassifier


def trainable_block_count(config: TrainConfig, epoch: int, total_blocks: int) -> int:
    """How many backbone blocks, counted from the output end, train during ``epoch`` (0-based)."""
    if config.strategy == "full":
        return total_blocks
    if config.strategy == "feature_extraction":
        return 0
    if config.strategy == "last_n":
        return min(config.unfreeze_last_n, total_blocks)
    return min(epoch // max(config.unfreeze_every, 1), total_blocks)


def apply_strategy(model: PneumoClassifier, config: TrainConfig, epoch: int) -> int:
    """Set ``requires_grad`` for this epoch; frozen blocks also keep their BatchNorm statistics."""
    blocks = model.blocks
    n_trainable = trainable_block_count(config, epoch, len(blocks))
    trainable_from = len(blocks) - n_trainable
    model.backbone.requires_grad_(n_trainable == len(blocks))
    for index, block in enumerate(blocks):
        block.requires_grad_(index >= trainable_from)
    model.classifier.requires_grad_(True)
    return n_trainable


def freeze_batchnorm_of_frozen(model: PneumoClassifier) -> None:
    """Call after ``model.train()``: a frozen block must not keep updating its running statistics."""
    for block in model.blocks:
        if not any(p.requires_grad for p in block.parameters()):
            for module in block.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()


def parameter_groups(model: PneumoClassifier, config: TrainConfig) -> list[dict]:
    """Backbone and head as two groups, so pretrained layers can learn more slowly.

    All parameters are registered from the start (frozen ones simply get no gradient), so
    progressive unfreezing never has to rebuild the optimizer.
    """
    backbone_lr = config.lr * (config.backbone_lr_mult if model.is_pretrained else 1.0)
    return [
        {"params": list(model.backbone.parameters()), "lr": backbone_lr, "name": "backbone"},
        {"params": list(model.classifier.parameters()), "lr": config.lr, "name": "head"},
    ]
