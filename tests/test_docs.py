"""The documentation: a short README, a model card that stays short, and a site that builds --strict.

``mkdocs build --strict`` fails on any warning: a link to a missing page or section, a nav entry
without its page, an API reference whose object is gone. MkDocs comes with the [docs] extra, which
[all] (what CI installs) includes: a missing MkDocs is a failure here, not a skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
EXTRAS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_readme_and_model_card_stay_short():
    assert (REPO / "README.md").stat().st_size <= 20 * 1024
    assert (REPO / "MODEL_CARD.md").stat().st_size < 12 * 1024


def test_the_docs_extra_is_part_of_all():
    assert "docs" in EXTRAS and any("docs" in r.split("[")[1] for r in EXTRAS["all"] if r.startswith("pneumo["))


def test_the_site_builds_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "predict_batch" in api and "ModelContract" in api  # the API page is drawn from the docstrings
    card = (tmp_path / "site" / "model-card" / "index.html").read_text()
    assert "Operating point" in card and "model_card/binary/roc.png" in card  # the model card, its figures' links rewritten
