import csv
import io
import json
import shutil

import pytest

from pneumo_runtime.predict_cli import COLUMNS, main


@pytest.fixture
def folder(tmp_path, fixture_images):
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    for image in fixture_images[:3]:
        shutil.copy(image, root / image.name)
    shutil.copy(fixture_images[3], root / "sub" / fixture_images[3].name)
    (root / "zz_broken.jpeg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    return root


def run(capsys, *args):
    code = main(list(map(str, args)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_csv_and_json_hold_the_same_rows_in_input_order(tiny_model, fixture_images, tmp_path, capsys):
    files = [fixture_images[2], fixture_images[0], fixture_images[1]]
    code, out, _ = run(capsys, *files, "--model", tiny_model, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == COLUMNS
    assert [r["path"] for r in rows] == [str(f) for f in files]
    output = tmp_path / "out.json"
    assert run(capsys, *files, "--model", tiny_model, "--format", "json", "--output", output)[0] == 0
    as_json = json.loads(output.read_text())
    assert [r["path"] for r in as_json] == [r["path"] for r in rows]
    for from_csv, from_json in zip(rows, as_json, strict=True):
        assert from_csv["prediction"] == from_json["prediction"] in ("NORMAL", "PNEUMONIA", "REFER", "REJECTED")
        assert float(from_csv["p_pneumonia"]) == pytest.approx(from_json["p_pneumonia"])
        assert from_json["error"] == "" and 0 <= from_json["uncertainty"] <= 1


def test_folders_recursion_bad_files_and_exit_codes(tiny_model, folder, capsys):
    code, out, _ = run(capsys, folder, "--model", tiny_model, "--format", "json")
    rows = json.loads(out)
    assert code == 1 and len(rows) == 4  # three images and the broken one; sub/ not entered
    assert rows[-1]["prediction"] == "ERROR" and "JPEG" in rows[-1]["error"]
    assert all(r["prediction"] != "ERROR" for r in rows[:-1])
    code, out, _ = run(capsys, folder, "--recursive", "--model", tiny_model, "--format", "json")
    assert len(json.loads(out)) == 5


def test_table_output_and_usage_errors(tiny_model, fixture_images, tmp_path, capsys):
    code, out, _ = run(capsys, fixture_images[0], "--model", tiny_model)
    assert code == 0 and "prediction" in out.splitlines()[0] and "Not a diagnostic device" in out
    assert run(capsys, fixture_images[0], "--format", "xml")[0] == 2
    assert run(capsys)[0] == 2
    code, _, err = run(capsys, fixture_images[0], "--model", tmp_path / "none.onnx")
    assert code == 2 and err.strip().count("\n") == 0 and "model file not found" in err


def test_about_describes_the_shipped_model(capsys):
    code, out, _ = run(capsys, "--about")
    assert code == 0
    assert "efficientnet_lite0" in out and "verified" in out and "CC BY 4.0" in out and "Not a diagnostic device" in out


def test_about_states_each_models_decision_rule(capsys):
    _, binary, _ = run(capsys, "--about")
    _, three, _ = run(capsys, "--model", "three_class", "--about")
    assert "threshold" in binary and "rule: validation sensitivity >= " in binary
    assert "decision argmax" in three and "threshold" not in three.split("calibration", 1)[1].splitlines()[0]


def test_patient_age_applies_to_every_input_of_the_run(fixture_images, capsys):
    from pneumo_runtime.predictor import Predictor

    decided = [p for p in fixture_images[:6] if Predictor(threads=1).predict(p).decision in ("NORMAL", "PNEUMONIA")][:2]
    assert decided, "no fixture film is decided by the default model"
    code, out, _ = run(capsys, *decided, "--patient-age", "45", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["prediction"] for r in rows] == ["REJECTED"] * len(decided)
    assert all("adult (18 or over)" in r["reason"] and r["p_pneumonia"] == "" for r in rows)
    code, out, _ = run(capsys, *decided, "--patient-age", "3", "--format", "csv")
    assert code == 0 and all(r["prediction"] in ("NORMAL", "PNEUMONIA") for r in csv.DictReader(io.StringIO(out)))


def test_a_bad_patient_age_is_one_line_and_exit_2(fixture_images, capsys):
    code, out, err = run(capsys, fixture_images[0], "--patient-age", "three")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "patient age" in err


def test_about_states_the_scope(capsys):
    code, out, _ = run(capsys, "--about")
    assert code == 0 and "children aged 1-5 only" in out and "look like an adult's, are REJECTED" in out
