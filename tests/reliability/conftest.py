"""The hostile-input corpus, built once per session in a temporary folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # corpus.py sits beside the tests (importlib import mode)

from corpus import Case, build_corpus


@pytest.fixture(scope="session")
def source_film(fullres_images) -> Path:
    return fullres_images[0]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, source_film) -> list[Case]:
    return build_corpus(tmp_path_factory.mktemp("corpus"), source_film)


@pytest.fixture(scope="session")
def default_predictor():
    from pneumo_runtime.predictor import Predictor

    return Predictor(threads=1)


@pytest.fixture(scope="session")
def source_decision(default_predictor, source_film) -> str:
    return default_predictor.predict(source_film).decision
