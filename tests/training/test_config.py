from pathlib import Path

import pytest

from pneumo.training.config import ConfigError, TrainConfig, config_from_dict, load_yaml
from pneumo.training.fit.cli import build_parser, main, resolve

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


def test_one_config_per_registered_model():
    from pneumo.training.models import list_models

    assert set(list_models()) <= {p.stem for p in CONFIGS}
    for path in CONFIGS:  # variants such as efficientnet_lite0_three_class start with their model's name
        model = config_from_dict(load_yaml(path)).model
        assert model in list_models() and path.stem.startswith(model)


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


def test_defaults_are_valid():
    TrainConfig().validate()
