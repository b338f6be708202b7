import os
import urllib.error

import cv2
import numpy as np
import pytest
import torch

from pneumo.training.models import PretrainedWeightsError, UnknownModelError, create_model, list_models

ALL_MODELS = list_models()


def test_registry_holds_the_seven_architectures():
    assert ALL_MODELS == ["custom_cnn", "densenet121", "efficientnet_b0", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "resnet50"]


@pytest.mark.slow  # trains or builds large networks
@pytest.mark.parametrize("name", ALL_MODELS)
def test_forward_backward_and_shared_surface(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, pretrained="none")
    x = torch.randn(2, 3, 64, 64)
    logits = model(x)
    assert logits.shape == (2, 3)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        fmap = model.features(x)
        torch.testing.assert_close(model.head(fmap), model(x))
        captured = []
        handle = model.gradcam_layer().register_forward_hook(lambda m, i, o: captured.append(o))
        model(x)
        handle.remove()
    torch.testing.assert_close(captured[0], fmap)
    # The backbone blocks cover every backbone parameter: freezing by block freezes everything.
    block_params = {id(p) for block in model.blocks for p in block.parameters()}
    assert block_params == {id(p) for p in model.backbone.parameters()}


def test_custom_cnn_size_and_attention_map():
    model = create_model("custom_cnn").eval()
    n_params = sum(p.numel() for p in model.parameters())
    assert 300_000 <= n_params <= 700_000
    attention = model.backbone.attention_map(torch.randn(1, 3, 224, 224))
    assert attention.shape == (1, 1, 14, 14) and 0 < attention.min() and attention.max() < 1


def test_unknown_model_names_the_choices():
    with pytest.raises(UnknownModelError, match="choose one of custom_cnn"):
        create_model("vgg11")


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_lite_imagenet_weights_classify_grace_hopper(variant):
    """The packaged weights really load: Grace Hopper's photo is ImageNet class 652 (military uniform)."""
    import matplotlib

    from pneumo.training.models.efficientnet_lite import LITE_MEAN, LITE_STD, imagenet_lite

    path = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")
    rgb = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    x = (cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 255 - LITE_MEAN) / LITE_STD
    with torch.no_grad():
        probabilities = torch.softmax(imagenet_lite(variant)(torch.from_numpy(x.transpose(2, 0, 1))[None].float()), 1)
    assert probabilities.argmax().item() == 652 and probabilities.max() > 0.3
    # And the pneumo model built on them carries exactly those backbone weights.
    pneumo = create_model(f"efficientnet_lite{variant}", pretrained="imagenet")
    torch.testing.assert_close(pneumo.backbone.model.conv_stem.weight, imagenet_lite(variant).conv_stem.weight)


def test_torchvision_download_failure_is_a_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    for name in ("resnet50", "densenet121", "efficientnet_b0"):
        with pytest.raises(PretrainedWeightsError, match="--pretrained none"):
            create_model(name, pretrained="imagenet")


def test_torchvision_weights_load_from_a_local_file(tmp_path):
    """The path a user with internet uses, with a weights file saved locally instead of downloaded."""
    import torchvision

    reference = torchvision.models.efficientnet_b0(weights=None)
    path = tmp_path / "efficientnet_b0.pth"
    torch.save(reference.state_dict(), path)
    model = create_model("efficientnet_b0", pretrained=str(path))
    torch.testing.assert_close(model.backbone[0][0].weight, reference.features[0][0].weight)
    assert model.is_pretrained
    with pytest.raises(PretrainedWeightsError, match="not found"):
        create_model("efficientnet_b0", pretrained=str(tmp_path / "missing.pth"))
