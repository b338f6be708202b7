import pytest
import torch
import torch.nn.functional as F

from pneumo.training.config import TrainConfig
from pneumo.training.fit.losses import FocalLoss, build_loss, inverse_frequency_weights
from pneumo.training.fit.optim import Schedule, build_optimizer
from pneumo.training.fit.transfer import apply_strategy, parameter_groups, trainable_block_count
from pneumo.training.models import create_model


def test_focal_loss_with_gamma_zero_is_cross_entropy():
    logits, target = torch.randn(8, 2), torch.randint(0, 2, (8,))
    torch.testing.assert_close(FocalLoss(gamma=0.0)(logits, target), F.cross_entropy(logits, target))


def test_focal_loss_down_weights_easy_examples():
    easy, hard = torch.tensor([[4.0, -4.0]]), torch.tensor([[0.2, -0.2]])
    target = torch.tensor([0])
    ratio_focal = FocalLoss(2.0)(easy, target) / FocalLoss(2.0)(hard, target)
    ratio_ce = F.cross_entropy(easy, target) / F.cross_entropy(hard, target)
    assert ratio_focal < ratio_ce / 10


def test_class_weights_balance_the_counts():
    weights = inverse_frequency_weights([1341, 3875])
    torch.testing.assert_close(weights * torch.tensor([1341.0, 3875.0]), torch.full((2,), 5216 / 2))
    loss = build_loss(TrainConfig(loss="ce", class_weights=True), [1341, 3875])
    torch.testing.assert_close(loss.weight, weights)


@pytest.mark.parametrize(
    "strategy, epoch, expected",
    [("full", 0, 9), ("feature_extraction", 5, 0), ("last_n", 0, 2), ("progressive", 0, 0), ("progressive", 4, 2), ("progressive", 99, 9)],
)
def test_strategy_schedules(strategy, epoch, expected):
    config = TrainConfig(strategy=strategy, unfreeze_last_n=2, unfreeze_every=2)
    assert trainable_block_count(config, epoch, 9) == expected


def test_feature_extraction_and_last_n_freeze_the_right_parameters():
    model = create_model("custom_cnn")
    apply_strategy(model, TrainConfig(strategy="feature_extraction"), 0)
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    apply_strategy(model, TrainConfig(strategy="last_n", unfreeze_last_n=1), 0)
    assert all(p.requires_grad for p in model.blocks[-1].parameters())
    assert not any(p.requires_grad for p in model.blocks[0].parameters())


def test_discriminative_learning_rate_for_pretrained_backbones():
    config = TrainConfig(lr=1e-3, backbone_lr_mult=0.1)
    groups = parameter_groups(create_model("efficientnet_lite0", pretrained="imagenet"), config)
    assert [g["lr"] for g in groups] == pytest.approx([1e-4, 1e-3])
    scratch = parameter_groups(create_model("custom_cnn"), config)  # nothing pretrained: no slow-down
    assert [g["lr"] for g in scratch] == pytest.approx([1e-3, 1e-3])


@pytest.mark.slow  # trains or builds large networks
@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
@pytest.mark.parametrize("scheduler", ["cosine", "step", "plateau", "none"])
def test_every_optimizer_and_schedule_steps(optimizer, scheduler):
    model = create_model("custom_cnn")
    config = TrainConfig(optimizer=optimizer, scheduler=scheduler, epochs=2, warmup_epochs=1, step_size=1)
    opt = build_optimizer(parameter_groups(model, config), config)
    base = opt.param_groups[0]["lr"]
    schedule = Schedule(opt, config, steps_per_epoch=2)
    for _ in range(2):
        for _ in range(2):
            model(torch.randn(2, 3, 32, 32)).sum().backward()
            opt.step()
            schedule.after_batch()
        schedule.after_epoch(0.5)
    after_two_epochs = {
        "cosine": 0.0,  # four steps of four: the cosine has come all the way down
        "step": base * config.step_gamma ** 2,  # one step per epoch
        "plateau": base,  # two flat epochs are within its patience of 3
        "none": base,
    }[scheduler]
    assert opt.param_groups[0]["lr"] == pytest.approx(after_two_epochs, abs=1e-12)
    for _ in range(3):  # three more flat epochs: only the plateau schedule reacts, by its factor 0.1
        schedule.after_epoch(0.5)
    after_five_epochs = {"plateau": base * 0.1, "step": after_two_epochs * config.step_gamma ** 3}.get(scheduler, after_two_epochs)
    assert opt.param_groups[0]["lr"] == pytest.approx(after_five_epochs, abs=1e-12)
