"""What pip builds: a wheel PyPI accepts, without torch weights; the weights distribution pinned to it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

import pneumo_runtime

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
WEIGHTS = REPO / "weights"


def test_the_weights_distribution_matches_this_release():
    sys.path.insert(0, str(WEIGHTS))
    try:
        import pneumo_torch_weights
    finally:
        sys.path.remove(str(WEIGHTS))
    assert pneumo_torch_weights.__version__ == pneumo_runtime.__version__
    assert f"pneumo-torch-weights=={pneumo_runtime.__version__}" in PYPROJECT["project"]["optional-dependencies"]["explain"]
    # one torch file per shipped full-precision ONNX model, stored once, as a real file
    onnx = sorted(p.name.removesuffix(".onnx") for p in (REPO / "pneumo_runtime" / "models").glob("*.onnx") if ".int8." not in p.name)
    weights = sorted((WEIGHTS / "pneumo_torch_weights").glob("*.pt"))
    assert [p.name.removesuffix(".pt") for p in weights] == onnx
    assert not any(p.is_symlink() for p in weights) and not list((REPO / "pneumo_runtime" / "models").glob("*.pt"))


def test_the_base_wheel_declares_no_torch_file():
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    assert not any(pattern.endswith(".pt") for patterns in data.values() for pattern in patterns)


@pytest.mark.slow
def test_the_wheel_is_small_and_holds_models_and_examples_but_no_torch_weights(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)], check=True, timeout=600)
    wheel = next(tmp_path.glob("pneumo-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert wheel.stat().st_size < 100 * 2**20, f"{wheel.stat().st_size / 2**20:.1f} MB"
    assert not [n for n in names if n.endswith((".pt", ".pth"))]
    assert {"pneumo_runtime/models/default.onnx", "pneumo_runtime/models/default.json"} <= set(names)
    assert [n for n in names if n.startswith("pneumo/demo/examples/") and n.endswith(".jpeg")]
    rooms = {"pneumo/demo/launch.py", "pneumo/serve/launch.py", "pneumo/serve/rest.py", "pneumo/site_kit/adapt_cli.py", "pneumo/export/guard/feature_fit.py"}
    assert {*rooms, "pneumo_runtime/launch.py"} <= set(names)


@pytest.mark.slow
def test_the_base_install_gates_dicom_and_age_on_a_real_film(tmp_path, kermany_224):
    """The wheel alone in a fresh virtual environment: pneumo-predict reads a DICOM header's scope
    tags and --patient-age with no extra installed."""
    import io

    import cv2
    import numpy as np
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path / "wheel")], check=True, timeout=600)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(next((tmp_path / "wheel").glob("pneumo-*.whl")))], check=True, timeout=900)
    film = sorted((kermany_224 / "test" / "PNEUMONIA").glob("*.jpeg"))[0]
    gray = cv2.imread(str(film), cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 16
    cases = {"age003": {"PatientAge": "003Y"}, "noage": {}, "age045": {"PatientAge": "045Y"}, "knee": {"BodyPartExamined": "KNEE"},
             "lateral": {"ViewPosition": "LL"}, "ct": {"Modality": "CT"}, "born1970": {"PatientBirthDate": "19700101", "StudyDate": "20200101"}}
    for name, tags in cases.items():
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = DigitalXRayImageStorageForPresentation, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta, ds.SOPClassUID, ds.SOPInstanceUID = meta, meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.PatientName, ds.PatientID, ds.Modality = "Doe^Jane", "SECRET-123", "DX"
        ds.Rows, ds.Columns = gray.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        for key, value in tags.items():
            setattr(ds, key, value)
        ds.PixelData = gray.tobytes()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        (tmp_path / f"{name}.dcm").write_bytes(buffer.getvalue())
    assert pydicom.dcmread(tmp_path / "knee.dcm").BodyPartExamined == "KNEE"

    def rows(*args: str) -> dict[str, dict]:
        done = subprocess.run([str(venv / "bin" / "pneumo-predict"), *args, "--format", "jsonl"], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and "Traceback" not in done.stderr and "SECRET-123" not in done.stdout + done.stderr
        return {Path(r["path"]).stem: r for r in map(__import__("json").loads, done.stdout.splitlines())}

    found = rows(*(str(tmp_path / f"{name}.dcm") for name in cases))
    decided = ("NORMAL", "PNEUMONIA")
    assert found["age003"]["prediction"] in decided and found["noage"]["prediction"] in decided
    for name, named in (("age045", "adult"), ("knee", "BodyPartExamined KNEE"), ("lateral", "ViewPosition LL"), ("ct", "Modality CT"), ("born1970", "adult")):
        assert found[name]["prediction"] == "REJECTED" and named in found[name]["reason"], found[name]
    assert not any("1970" in row["reason"] for row in found.values())
    assert rows(str(film), "--patient-age", "45")[film.stem]["prediction"] == "REJECTED"
    assert rows(str(film), "--patient-age", "3")[film.stem]["prediction"] in decided
