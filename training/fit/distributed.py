"""Data-parallel training under ``torchrun``: one process per GPU (or per CPU share), one model.

``torchrun`` starts the processes and sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; this
module turns those into a process group (NCCL when CUDA is there, gloo otherwise), a device per
process, and the few collectives training needs. Without ``torchrun`` every function here is the
one-process identity, so a plain ``pneumo-train`` runs the very same code.

Conventions the rest of training relies on:

- ``batch_size`` is the *global* batch: each of the N processes takes ``batch_size / N`` images
  per step and DDP averages the gradients, so a config gives the same optimisation on 1 or N
  processes and its learning rate needs no rescaling.
- Every process computes the same patient split (it is deterministic for a seed), the same
  validation metrics (logits are gathered from all processes before any metric is computed), and
  hence the same early-stopping and schedule decisions.
- Only rank 0 logs, shows progress bars and writes files.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ..config import ConfigError


@dataclass(frozen=True)
class Distributed:
    """Where this process sits: its rank among ``world_size`` processes and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def backend(self) -> str:
        return "nccl" if self.device.type == "cuda" else "gloo"


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    """Rank 0, or the only process; readable before (and after) the process group exists."""
    return int(os.environ.get("RANK", "0")) == 0


def default_device(local_rank: int = 0) -> torch.device:
    return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")


def start() -> Distributed:
    """Join the process group that torchrun describes in the environment (no-op without torchrun)."""
    if not launched_by_torchrun():
        return Distributed(device=torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    rank, world_size, local_rank = (int(os.environ[key]) for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    device = default_device(local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    context = Distributed(rank, world_size, local_rank, device)
    if not dist.is_initialized():
        # Calibration and the last checkpoint run on rank 0 alone while the others wait at a barrier.
        dist.init_process_group(context.backend, timeout=datetime.timedelta(minutes=30),
                                device_id=device if device.type == "cuda" else None)
    return context


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def sum_across(*values: float) -> list[float]:
    """Element-wise sums over all processes (e.g. loss totals and image counts of an epoch)."""
    if not dist.is_initialized():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def gather_rows(indices: np.ndarray, rows: np.ndarray, count: int) -> np.ndarray:
    """Reassemble per-process rows (``rows[i]`` belongs to item ``indices[i]``) into all ``count`` items, on every process."""
    if not dist.is_initialized():
        return rows
    pieces: list = [None] * dist.get_world_size()
    dist.all_gather_object(pieces, (indices, rows))
    full = np.empty((count, *rows.shape[1:]), dtype=rows.dtype)
    for piece_indices, piece_rows in pieces:
        full[piece_indices] = piece_rows
    return full


def local_batch_size(batch_size: int, world_size: int) -> int:
    """The per-process share of the global batch; it must divide evenly so that every step sees ``batch_size`` images."""
    if batch_size % world_size:
        raise ConfigError(f"batch_size={batch_size} (global) does not split evenly over {world_size} processes")
    return batch_size // world_size


def iterate_own(loader: torch.utils.data.DataLoader, context: Distributed) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """(item indices, images) of the batches of an unshuffled ``loader``, keeping only this process's items.

    Every process walks the whole loader, so seeded per-pass transforms (the shifted validation
    copy) give each image the same draw whatever the number of processes; only the model's
    forward pass, the costly part, is split.
    """
    start_index = 0
    for images, _ in loader:
        indices = np.arange(start_index, start_index + len(images))
        start_index += len(images)
        mine = indices % context.world_size == context.rank
        if mine.any():
            yield indices[mine], images[torch.from_numpy(mine)]
