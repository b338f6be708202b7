"""WiSE-FT: interpolate the weights a run started fine-tuning from with the weights it ended at.

Wortsman et al. (2022, "Robust fine-tuning of zero-shot models") found that the straight line
between the pretrained and the fine-tuned weights holds models that keep most of the fine-tuned
accuracy and much of the pretrained model's robustness to distribution shift, the weakness of
the Kermany train -> test split. Here "start" is the network when its backbone begins to train:
after the linear probe of LP-FT (``probe_epochs``), or at initialisation, where the head is still
random (so WiSE-FT is meant for LP-FT runs, whose start has a trained head).

``wise_ft`` (the mixing weight alpha) is chosen on validation like any other setting, e.g. by
``pneumo-tune``; 1.0 is plain fine-tuning.
"""

from __future__ import annotations

import torch


def interpolate_states(start: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * start + alpha * tuned`` for floating-point tensors (BatchNorm statistics included);
    integer buffers (BatchNorm's step count) from ``tuned``."""
    if start.keys() != tuned.keys():
        raise ValueError("WiSE-FT needs two states of the same network")
    mixed = {}
    for key, value in tuned.items():
        if value.is_floating_point():
            mixed[key] = torch.lerp(start[key].to(value.dtype), value, alpha)
        else:
            mixed[key] = value.clone()
    return mixed


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
