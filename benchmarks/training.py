"""Training throughput (images/s) per registered architecture at 224 px, on real images.

    python -m benchmarks.training [--quick] [--architectures custom_cnn efficientnet_lite0] [--steps 2] [--batch-size 16]

Forward + backward + optimizer step, after two warm-up steps, random weights (speed does not
depend on their values), on the fixtures' real films.
"""

from __future__ import annotations

import argparse
import json
import time

from .common import REPO

FIXTURES = REPO / "tests" / "fixtures" / "kermany_mini"


def measure(name: str, batch, labels, steps: int) -> float:
    """Images/s of ``steps`` training steps of architecture ``name`` on ``batch``, after two warm-up steps."""
    import torch

    from pneumo.training.models import create_model

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


def run(quick: bool = False, steps: int = 2, batch_size: int = 16, architectures: list[str] | None = None) -> dict:
    import torch

    from pneumo.training.data.dataset import XrayDataset
    from pneumo.training.data.samples import discover_kermany
    from pneumo.training.models import list_models
    from pneumo_runtime.preprocess import PreprocessSettings

    names = architectures if architectures is not None else (["custom_cnn"] if quick else list_models())
    steps, batch_size = (1, 2) if quick else (steps, batch_size)
    dataset = XrayDataset(discover_kermany(FIXTURES, "train", "binary"), PreprocessSettings())
    batch = torch.stack([dataset[i % len(dataset)][0] for i in range(batch_size)])
    labels = torch.tensor([dataset[i % len(dataset)][1] for i in range(batch_size)])
    found = {}
    for name in names:
        found[name] = round(measure(name, batch, labels, steps), 2)
        print(f"training: {name} {found[name]} img/s", flush=True)
    return {"threads": torch.get_num_threads(), "batch_size": batch_size, "steps": steps, "input_px": 224, "train_img_per_s": found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--architectures", nargs="*")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.steps, args.batch_size, args.architectures), indent=1))


if __name__ == "__main__":
    main()
