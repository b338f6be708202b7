import shutil
from pathlib import Path

import pytest

from pneumo.training.data.dataset import XrayDataset
from pneumo.training.data.samples import DataError, discover_kermany, load_samples, patient_id, read_csv
from pneumo.training.data.split import patient_folds, patient_split
from pneumo_runtime import PreprocessSettings, preprocess
from pneumo_runtime.inputs import decode_image


@pytest.mark.parametrize(
    "name, patient",
    [
        ("person1_bacteria_1.jpeg", "PERSON1"),
        ("person447_virus_921_1.jpeg", "PERSON447"),
        ("IM-0629-0001-0002.jpeg", "IM-0629"),
        ("NORMAL2-IM-0629-0001.jpeg", "NORMAL2-IM-0629"),  # another series: another patient
        ("scan.png", "file:scan"),
    ],
)
def test_patient_id_from_kermany_names(name, patient):
    assert patient_id(Path(name)) == patient


def test_kermany_layout_binary_and_three_class(kermany_mini):
    binary = discover_kermany(kermany_mini, "train", "binary")
    three = discover_kermany(kermany_mini, "train", "three_class")
    assert len(binary) == len(three) == 16
    assert sorted({s.label for s in binary}) == [0, 1]
    by_name = {s.path.name: s.label for s in three}
    assert by_name["person1_bacteria_1.jpeg"] == 1 and by_name["person100_virus_184.jpeg"] == 2
    assert by_name["IM-0115-0001.jpeg"] == 0


def test_csv_form_with_names_indices_and_patients(tmp_path, kermany_mini):
    image = next((kermany_mini / "train" / "NORMAL").glob("*.jpeg"))
    csv = tmp_path / "list.csv"
    csv.write_text(f"path,label,patient\n{image},NORMAL,p1\n{image},1,p2\n")
    samples = load_samples(csv, "train", "binary")
    assert [(s.label, s.patient) for s in samples] == [(0, "p1"), (1, "p2")]
    csv.write_text(f"path,label\n{image},SICK\n")
    with pytest.raises(DataError, match="label 'SICK'"):
        read_csv(csv, "binary")


def test_missing_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        discover_kermany(tmp_path, "train", "binary")
    (tmp_path / "train" / "NORMAL").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        discover_kermany(tmp_path, "train", "binary")


def test_unreadable_images_are_skipped_and_counted(tmp_path, kermany_mini):
    root = tmp_path / "data"
    shutil.copytree(kermany_mini, root)
    (root / "train" / "NORMAL" / "IM-9999-0001.jpeg").write_bytes(b"\xff\xd8 truncated")
    samples = discover_kermany(root, "train", "binary")
    dataset = XrayDataset(samples, PreprocessSettings())
    assert len(samples) == 17 and len(dataset) == 16
    assert dataset.report.skipped[0][0] == "IM-9999-0001.jpeg"
    assert "1 skipped" in dataset.report.summary()


def test_training_uses_exactly_the_runtime_preprocessing(fixture_images):
    contract = PreprocessSettings()
    samples = discover_kermany(fixture_images[0].parents[2], "train", "binary")
    dataset = XrayDataset(samples, contract)
    tensor, _ = dataset[0]
    assert tensor.numpy().tobytes() == preprocess(decode_image(samples[0].path), contract).tobytes()


def test_patient_split_on_fixtures_keeps_patients_together(kermany_mini):
    samples = discover_kermany(kermany_mini, "train", "binary")
    for train, held in patient_folds(samples, 2, seed=0):
        assert not {s.patient for s in train} & {s.patient for s in held}


def test_patient_split_of_the_real_train_split_has_no_overlap_and_is_deterministic(kermany_224):
    samples = discover_kermany(kermany_224, "train", "binary")
    train, val = patient_split(samples, 0.15, seed=42)
    assert len(train) + len(val) == 5216
    assert not {s.patient for s in train} & {s.patient for s in val}
    assert 0.12 < len(val) / len(samples) < 0.18
    assert 0.2 < sum(s.label == 0 for s in val) / len(val) < 0.32  # stratified: train has 25.7% normal
    again = patient_split(list(reversed(samples)), 0.15, seed=42)[1]
    assert [s.path for s in again] == [s.path for s in val]
