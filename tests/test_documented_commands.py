"""Every command README.md and MODEL_CARD.md show runs as shown.

Each case quotes its command exactly as the document prints it (the test fails if the document
changes it), then runs it with the document's placeholders filled in: ``scans/`` and
``site_films/`` become real films from the repository, output folders a temporary one. Commands
on the whole Kermany split run on a seeded subset (``--max-images``, ``--max-train-samples``, ``--bootstrap``:
the only flags added, with ``--population-data`` pointing the population check at a small corpus) and
skip cleanly without ../shared/data. The two set-up blocks are CI's own
(.ci/run); ``mkdocs`` is tests/test_docs.py.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pneumo_runtime.data_root import data_root

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
CARD = " ".join((REPO / "MODEL_CARD.md").read_text().split())  # inline commands wrap across lines
EXAMPLES = REPO / "examples"
SITE_FILMS = REPO / "tests" / "fixtures" / "kermany_mini" / "train"  # NORMAL/ and PNEUMONIA/, 8 films each
KERMANY = data_root() / "kermany_224"
needs_kermany = pytest.mark.skipif(not (KERMANY / "test").is_dir(), reason="needs the Kermany data (../shared/data or PNEUMO_DATA)")


def shown(command: str, document: str = README) -> str:
    assert command in document, f"the document no longer shows: {command}"
    return command


def run(command: str, substitutions: dict[str, str] | None = None, extra: list[str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a documented command line (its placeholders replaced) with this interpreter's console scripts."""
    for placeholder, value in (substitutions or {}).items():
        command = command.replace(placeholder, value)
    words = command.split()
    if words[0].startswith("pneumo-"):
        words[0] = str(Path(sys.executable).with_name(words[0]))
    elif words[0] == "python":
        words[0] = sys.executable
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*words, *(extra or [])], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done


def rows(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_predict_the_examples():
    done = run(shown("pneumo-predict examples/"))
    assert done.returncode == 0, done.stderr
    assert all(name in done.stdout for name in (p.name for p in EXAMPLES.glob("*.jpeg")))


def test_predict_a_folder_to_csv_with_the_int8_model(tmp_path):
    done = run(shown("pneumo-predict scans/ --recursive --output rows.csv --model default.int8"), {"scans/": str(EXAMPLES), "rows.csv": str(tmp_path / "rows.csv")})
    assert done.returncode == 0, done.stderr
    found = rows(tmp_path / "rows.csv")
    assert len(found) == 3 and {r["prediction"] for r in found} <= {"NORMAL", "PNEUMONIA", "REFER"}


def test_the_python_snippet(tmp_path):
    snippet = re.search(r"```python\n(from pneumo_runtime.predictor import Predictor\n.+?)```", README, re.DOTALL).group(1)
    film = next(EXAMPLES.glob("*.jpeg"))
    namespace: dict = {}
    exec(snippet.replace('"scan.jpeg"', repr(str(film))), namespace)  # noqa: S102  (the README's own code)
    assert namespace["result"].decision in {"NORMAL", "PNEUMONIA", "REFER"}


def test_the_rest_service_answers():
    shown('pip install ".[serve,dicom]" && pneumo-serve')
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([str(Path(sys.executable).with_name("pneumo-serve")), "--port", str(port)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline, answer = time.monotonic() + 60, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/v1/predict", files={"file": ("x.jpeg", next(EXAMPLES.glob("*.jpeg")).read_bytes())}, timeout=10)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert answer is not None and answer.status_code == 200, process.stderr.read().decode() if process.poll() is not None else "no answer"
        assert answer.json()["decision"] in {"NORMAL", "PNEUMONIA", "REFER"}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


@pytest.mark.slow
def test_validate_at_a_new_site_with_a_shipped_model_name(tmp_path):
    """README and model card, "At a new site": --model takes the shipped name, as pneumo-predict does."""
    readme = shown("pneumo-evaluate --model default --data SITE_FOLDER_OR_CSV --split . --out reports/site --prevalence 0.3")
    shown("pneumo-evaluate --model default --data SITE_FILMS --split . --out reports/site --prevalence P", CARD)
    done = run(readme, {"SITE_FOLDER_OR_CSV": str(SITE_FILMS), "reports/site": str(tmp_path / "site")}, ["--bootstrap", "50"])
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "site" / "metrics.json").read_text())
    assert metrics["data"]["n_images"] == 16 and metrics["site"]["prevalence"] == 0.3


@pytest.mark.slow
def test_adapt_at_a_new_site(tmp_path, population_data):
    readme = shown('pneumo-adapt --site "Clinic X" --unlabelled site_films/ --out site_model/')
    shown("pneumo-adapt --site NAME --unlabelled FILMS/ [--labelled LABELLED/] --out site/", CARD)
    # The population check is fitted on a small corpus: the full one (6,000 films) takes a minute a model.
    small = ["--population-data", str(population_data)]
    done = run(readme.replace('"Clinic X"', "Clinic"), {"site_films/": str(SITE_FILMS), "site_model/": str(tmp_path / "unlabelled")}, extra=small)
    assert done.returncode == 0, done.stderr
    assert "kept the shipped model's, not adapted: 16 films are too few" in done.stdout  # the kit's rule, said to the user
    # The adapted path end to end (new statistics, the population check refitted): the plain statistics, asked for.
    both = run("pneumo-adapt --site NAME --unlabelled FILMS/ --labelled LABELLED/ --out site/",
               {"FILMS/": str(SITE_FILMS), "LABELLED/": str(SITE_FILMS), "site/": str(tmp_path / "both")}, extra=["--batchnorm", "plain", *small])
    assert both.returncode == 0, both.stderr
    for folder, methods in (("unlabelled", []), ("both", ["batchnorm_statistics", "calibration"])):
        assert json.loads((tmp_path / folder / "model.json").read_text())["site_adaptation"]["methods"] == methods


@pytest.mark.slow
@needs_kermany
def test_train_export_evaluate(tmp_path, population_data):
    train, export, evaluate = (shown(line) for line in (
        "pneumo-train --config configs/release/binary.yaml --data ../shared/data/kermany_224 --epochs 1 --out runs/first",
        "pneumo-export --to onnx --checkpoint runs/first/best.pt --out exported/first",
        "pneumo-evaluate --model exported/first/model.onnx --data ../shared/data/kermany_224 --split test --out reports/first"))
    places = {"../shared/data/kermany_224": str(KERMANY), "runs/first": str(tmp_path / "run"), "exported/first": str(tmp_path / "exported"),
              "reports/first": str(tmp_path / "report")}
    done = run(train, places, ["--max-train-samples", "48", "--max-val-samples", "48", "--no-shift-validation"], timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    done = run(export, places, ["--population-data", str(population_data)])  # a small corpus: the full one takes a minute
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "exported" / "model.json").read_text())["population_check"]["fitted_on"]["adults"] == 30
    done = run(evaluate, places, ["--max-images", "32", "--mc-passes", "0", "--bootstrap", "50"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "report" / "metrics.json").is_file()


@pytest.mark.slow
@needs_kermany
def test_the_model_cards_evaluation_and_failure_examples(tmp_path):
    places = {"../shared/data/kermany_224": str(KERMANY), "reports/": str(tmp_path) + "/", "docs/model_card/failures": str(tmp_path / "failures")}
    for name, report in (("default", "default"), ("default.int8", "default-int8"), ("three_class", "3c-corner-swap")):
        command = shown(f"pneumo-evaluate --model pneumo_runtime/models/{name}.onnx --data ../shared/data/kermany_224 --split test "
                        f"--out reports/{report} --mc-passes 0", CARD)
        done = run(command, places, ["--max-images", "32", "--bootstrap", "50"])
        assert done.returncode == 0, done.stderr[-3000:]
    failures = shown("python scripts/failure_examples.py --predictions reports/default/predictions.csv --data ../shared/data/kermany_224 "
                     "--model default --out docs/model_card/failures", CARD)
    done = run(failures, places)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "failures" / "index.md").is_file()
