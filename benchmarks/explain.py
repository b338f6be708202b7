"""Heatmaps: Captum Grad-CAM on the torch twin against the runtime's CAM on onnxruntime, per image.

    python -m benchmarks.explain [--quick] [--films 8]

Both on the shipped default model and the same full-size films, interleaved; each call includes
decoding and preprocessing, as the demo's "explain" does. The runtime CAM equals Grad-CAM for this
head (pneumo_runtime/cam.py), so the difference is only cost.
"""

from __future__ import annotations

import argparse
import json

from .common import FULLRES, images_in, interleaved, ratio, summary


def run(quick: bool = False, films: int = 8) -> dict:
    import torch

    from pneumo.demo.torch_explain import TorchExplainer
    from pneumo_runtime.inputs import load_image
    from pneumo_runtime.predictor import Predictor
    from pneumo_runtime.torch_twin import torch_twin

    predictor = Predictor()
    captum = TorchExplainer(torch_twin(predictor.model.path), predictor.contract)
    paths = images_in(FULLRES)[: 1 if quick else films]
    rounds = 1 if quick else 3

    def gradcam(path):
        gray = load_image(path, reduce_to=predictor.contract.preprocess.input_size).gray
        return captum.gradcam_map(gray, "PNEUMONIA")

    timings = {"captum_gradcam": [], "runtime_cam": []}
    for path in paths:
        found = interleaved({"captum_gradcam": lambda p=path: gradcam(p), "runtime_cam": lambda p=path: predictor.explain(p)}, rounds)
        for name, values in found.items():
            timings[name].extend(values)
    return {"images": len(paths), "rounds": rounds, "torch_threads": torch.get_num_threads(),
            **{name: summary(values) for name, values in timings.items()},
            "runtime_cam_speedup_vs_captum": ratio(timings["captum_gradcam"], timings["runtime_cam"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--films", type=int, default=8)
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.films), indent=1))


if __name__ == "__main__":
    main()
