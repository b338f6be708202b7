from pathlib import Path

import pytest

from pneumo.training.config import ConfigError, TrainConfig, config_from_dict, load_yaml
from pneumo.training.fit.train_cli import build_parser, main, resolve

CONFIG_DIR = Path(__file__).parents[2] / "configs"
CONFIGS = sorted(CONFIG_DIR.rglob("*.yaml"))
RELEASE_RECIPE = CONFIG_DIR / "release" / "binary.yaml"
# What a zoo config may change against the release recipe: the backbone, and whether every epoch's
# checkpoint is kept (large backbones on small disks). Anything else would make the zoo compare
# recipes instead of models.
ZOO_MAY_CHANGE = {"model", "keep_epoch_checkpoints"}


def test_every_config_loads_and_every_registered_model_has_one():
    from pneumo.training.models import list_models

    assert {"release", "zoo", "experiments"} == {p.parent.name for p in CONFIGS}
    models = {config_from_dict(load_yaml(path)).model for path in CONFIGS}
    assert models == set(list_models())


def test_zoo_configs_are_the_release_recipe_on_another_backbone():
    recipe = config_from_dict(load_yaml(RELEASE_RECIPE)).to_dict()
    zoo = sorted((CONFIG_DIR / "zoo").glob("*.yaml"))
    assert zoo
    for path in zoo:
        config = config_from_dict(load_yaml(path)).to_dict()
        changed = {key for key in recipe if config[key] != recipe[key]}
        assert changed <= ZOO_MAY_CHANGE, (path.name, changed)
        assert config["model"] == path.stem


def test_extends_loads_the_base_first_and_chains(tmp_path: Path):
    (tmp_path / "base.yaml").write_text("model: custom_cnn\nlr: 0.01\nepochs: 4\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "middle.yaml").write_text("extends: ../base.yaml\nlr: 0.02\n")
    (tmp_path / "sub" / "leaf.yaml").write_text("extends: middle.yaml\nepochs: 6\n")
    assert load_yaml(tmp_path / "sub" / "leaf.yaml") == {"model": "custom_cnn", "lr": 0.02, "epochs": 6}


def test_extends_cycle_and_missing_base_are_config_errors(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nlr: 0.1\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="extends itself"):
        load_yaml(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="cannot read config .*nowhere.yaml"):
        load_yaml(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("extends: [a.yaml, b.yaml]\n")
    with pytest.raises(ConfigError, match="extends must be the path of one YAML file"):
        load_yaml(tmp_path / "d.yaml")


def test_unknown_key_is_an_error():
    with pytest.raises(ConfigError, match="unknown config key.*learning_rate"):
        config_from_dict({"learning_rate": 0.1})


def test_wrong_type_and_bad_choice_are_errors():
    with pytest.raises(ConfigError, match="epochs must be int"):
        config_from_dict({"epochs": "ten"})
    with pytest.raises(ConfigError, match="optimizer='lion'"):
        config_from_dict({"optimizer": "lion"})
    assert config_from_dict({"lr": 1}).lr == 1.0  # an int is a fine float


def test_cli_flags_override_yaml(tmp_path: Path):
    config_file = tmp_path / "c.yaml"
    config_file.write_text("model: custom_cnn\nlr: 0.01\nclahe: true\ndata: somewhere\n")
    args = build_parser().parse_args(["--config", str(config_file), "--lr", "0.5", "--no-clahe", "--out", str(tmp_path / "o")])
    config, out, resume = resolve(args)
    assert (config.model, config.lr, config.clahe, config.data) == ("custom_cnn", 0.5, False, "somewhere")
    assert out == tmp_path / "o" and resume is None


def test_cli_reports_config_and_data_errors_in_one_line(tmp_path: Path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochz: 3\n")
    assert main(["--config", str(bad), "--data", str(tmp_path)]) == 2
    assert main(["--model", "custom_cnn", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert "unknown config key(s): epochz" in lines[0]
    assert "data folder not found" in lines[-1]
    assert all(line.startswith("pneumo-train: error:") for line in lines)


@pytest.mark.parametrize("field, bad", [("val_fraction", 1.0), ("epochs", 0), ("ellipse_mask", 0.3), ("corner_swap", 1.5), ("ema_decay", 1.0),
                                        ("wise_ft", 1.5), ("probe_epochs", 99), ("optimizer", "lion"), ("input_downsample", 3)])
def test_defaults_are_valid_and_each_bad_value_is_named(field, bad):
    assert TrainConfig().validate() is None
    assert config_from_dict(TrainConfig().to_dict()) == TrainConfig()
    with pytest.raises(ConfigError, match=field):
        TrainConfig(**{field: bad}).validate()
