"""The torch-free CAM (exported feature map x head weights) equals Captum's Grad-CAM."""

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam

from pneumo.export.export_cli import main
from pneumo.training.checkpoint import model_from_checkpoint
from pneumo_runtime.cam import class_activation_map
from pneumo_runtime.inputs import decode_image
from pneumo_runtime.model import OnnxModel
from pneumo_runtime.preprocess import preprocess


def test_runtime_cam_matches_captum_layer_gradcam_on_lite0(checkpoint_factory, tmp_path, kermany_mini, fixture_images):
    checkpoint = checkpoint_factory("efficientnet_lite0", input_size=224, pretrained="imagenet")
    assert main(["--to", "onnx", "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--validate-images", str(kermany_mini), "--no-population-check"]) == 0
    onnx_model = OnnxModel(tmp_path / "model.onnx")
    torch_model = model_from_checkpoint(checkpoint).model
    gradcam = LayerGradCam(torch_model, torch_model.gradcam_layer())
    positive = onnx_model.contract.positive_index
    correlations = []
    for path in fixture_images[::2]:
        x = preprocess(decode_image(path), onnx_model.contract.preprocess)[None]
        features = onnx_model.outputs(x, features=True)["features"]
        runtime_cam = class_activation_map(features[0], np.array(onnx_model.contract.cam_weights), positive, (224, 224))
        attribution = gradcam.attribute(torch.from_numpy(x), target=positive, relu_attributions=True)
        captum_cam = F.interpolate(attribution, size=(224, 224), mode="bilinear", align_corners=False)[0, 0].detach().numpy()
        correlations.append(np.corrcoef(runtime_cam.ravel(), captum_cam.ravel())[0, 1])
    assert min(correlations) >= 0.99, correlations
