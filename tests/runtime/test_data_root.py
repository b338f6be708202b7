"""One rule for where the data lives: PNEUMO_DATA, else ../shared/data beside the checkout."""

from __future__ import annotations

import re
from pathlib import Path

from pneumo_runtime.data_root import data_root

REPO = Path(__file__).resolve().parents[2]
RESOLVING = re.compile(r'"shared" / "data"|environ[^\n]*PNEUMO_DATA')  # building the path, or reading the variable


def test_pneumo_data_wins_and_the_default_is_beside_the_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv("PNEUMO_DATA", str(tmp_path))
    assert data_root() == tmp_path
    monkeypatch.delenv("PNEUMO_DATA")
    assert data_root() == REPO.parent / "shared" / "data"


def test_no_other_module_resolves_the_data_root():
    """The rule lives in pneumo_runtime/data_root.py only; everything else calls data_root()."""
    rooms = ("pneumo_runtime", "training", "export", "site_kit", "serve", "demo", "benchmarks", "scripts", "tests")
    offenders = [str(p.relative_to(REPO)) for room in rooms for p in (REPO / room).rglob("*.py")
                 if p.name != "data_root.py" and p != Path(__file__) and RESOLVING.search(p.read_text())]
    assert not offenders


def test_an_installed_package_looks_beside_the_folder_it_runs_in(monkeypatch, tmp_path):
    import pneumo_runtime.data_root as module

    monkeypatch.delenv("PNEUMO_DATA", raising=False)
    monkeypatch.setattr(module, "CHECKOUT", tmp_path / "site-packages")  # no pyproject.toml: not a checkout
    monkeypatch.chdir(tmp_path)
    assert module.data_root() == tmp_path.parent / "shared" / "data"
