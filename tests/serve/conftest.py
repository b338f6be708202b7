"""DX films of one study built from the shared Kermany test films, and the helpers' folder on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # pacs_processes.py sits beside the tests (importlib import mode)

pytest.importorskip("pynetdicom")
pytest.importorskip("highdicom")

from pydicom.uid import generate_uid  # noqa: E402

from benchmarks.dicom_films import Patient, dx_film, kermany_test_films  # noqa: E402

AGES = ("005Y", "003Y", "052Y")  # two children, one adult: the adult must come back REJECTED


@pytest.fixture(scope="session")
def patient() -> Patient:
    return Patient()


@pytest.fixture(scope="session")
def study_films(patient) -> list[bytes]:
    """One study of three DX films, in AGES order."""
    try:
        sources = kermany_test_films(len(AGES))
    except FileNotFoundError as exc:
        pytest.skip(f"shared Kermany data not present ({exc})")
    study = generate_uid()
    return [dx_film(source, study, age, patient, instance) for instance, (source, age) in enumerate(zip(sources, AGES, strict=True), 1)]


@pytest.fixture
def film_factory(patient):
    """Fresh films (new study and instance UIDs) from the test films: ``film_factory(count)``."""
    def make(count: int, age: str = "004Y") -> list[bytes]:
        try:
            sources = kermany_test_films(count)
        except FileNotFoundError as exc:
            pytest.skip(f"shared Kermany data not present ({exc})")
        study = generate_uid()
        return [dx_film(source, study, age, patient, instance) for instance, source in enumerate(sources, 1)]
    return make
