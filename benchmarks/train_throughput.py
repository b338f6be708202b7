"""Training throughput (images/s) of every registered model on this machine, on real images.

    python -m benchmarks.train_throughput [--models custom_cnn efficientnet_lite0] [--steps 5]

Forward + backward + optimizer step at 224 px, batch 16, after two warm-up steps. Random
(untrained) weights: speed does not depend on their values.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from pneumo.training.data.dataset import XrayDataset
from pneumo.training.data.samples import discover_kermany
from pneumo.training.models import create_model, list_models
from pneumo_runtime.preprocess import PreprocessSettings

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures" / "kermany_mini"


def measure(name: str, batch: torch.Tensor, labels: torch.Tensor, steps: int) -> float:
    model = create_model(name, 2, "none").train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        optimizer.zero_grad()
        loss_fn(model(batch), labels).backward()
        optimizer.step()

    for _ in range(2):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * len(batch) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list_models())
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    dataset = XrayDataset(discover_kermany(FIXTURES, "train", "binary"), PreprocessSettings())
    batch = torch.stack([dataset[i % len(dataset)][0] for i in range(args.batch_size)])
    labels = torch.tensor([dataset[i % len(dataset)][1] for i in range(args.batch_size)])
    results = {name: round(measure(name, batch, labels, args.steps), 1) for name in args.models}
    print(json.dumps({"threads": torch.get_num_threads(), "batch_size": args.batch_size, "train_img_per_s": results}, indent=1))


if __name__ == "__main__":
    main()
