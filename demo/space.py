"""Assemble a ready Hugging Face Space folder: ``python -m pneumo.demo.space OUT [--model default]``.

The folder holds everything a Gradio Space runs, with nothing to pip-install from this project:
``app.py`` (the entry point), the torch-free sources (``pneumo_runtime/`` and ``pneumo/demo/``),
the chosen model with its contract, the example X-rays, ``requirements.txt`` (the runtime's and
DICOM's dependencies; Gradio itself comes from the front matter's ``sdk_version``), a README with
the Space front matter, and a ``.gitattributes`` that puts ``*.onnx`` under Git LFS (a Space
repository refuses plain files over 10 MB). Push it: ``cd OUT && git init && git lfs install &&
git add . && git commit -m pneumo && git push <space-url> HEAD:main``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import shutil
import sys
from pathlib import Path

import pneumo_runtime
from pneumo_runtime.errors import PneumoError
from pneumo_runtime.notices import DISCLAIMER
from pneumo_runtime.predictor import resolve_model, shipped_models

DEMO = Path(__file__).resolve().parent
REPO = DEMO.parent  # in a checkout; installed, this is site-packages/pneumo and has no pyproject.toml
GRADIO_SDK_VERSION = "6.31.0"  # the Gradio release the demo is tested with
PYTHON_VERSION = "3.11"
SPACE_EXTRAS = ("dicom",)  # uploads may be DICOM; no torch: maps come from the runtime's CAM

APP = '''"""Hugging Face Space entry point: the pneumo demo (built by ``python -m pneumo.demo.space``).

The Space sets GRADIO_SERVER_NAME=0.0.0.0 and GRADIO_SERVER_PORT; pneumo-demo reads both.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pneumo_runtime/ and pneumo/demo/ sit here

from pneumo.demo.demo_cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main({argv!r}))
'''

README = """---
title: pneumo
emoji: 🫁
colorFrom: blue
colorTo: gray
sdk: gradio
sdk_version: {sdk}
python_version: "{python}"
app_file: app.py
pinned: false
license: mit
short_description: Pneumonia second opinion on chest X-rays (not a diagnostic device)
---

# pneumo: pneumonia second opinion on chest X-rays

> **{disclaimer}** Do not upload identifiable patient data to a public Space.

Upload a chest X-ray (JPEG, PNG, BMP or DICOM) or click an example: the model `{model}` gives
calibrated probabilities, a decision with its threshold and uncertainty, and a heatmap. Built from
the pneumo repository by `python -m pneumo.demo.space`; its README says how the model was trained
and tested. Data: Kermany et al., Mendeley Data doi:10.17632/rscbjbr9sj.2 (CC BY 4.0).
"""

GITATTRIBUTES = "*.onnx filter=lfs diff=lfs merge=lfs -text\n"


def _requirement_lines(requires: list[str]) -> list[str]:
    """Base requirements plus those of SPACE_EXTRAS, without markers; nested pneumo[...] dropped."""
    lines = []
    for requirement in requires:
        spec, _, marker = requirement.partition(";")
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        if (extra is None or extra.group(1) in SPACE_EXTRAS) and not spec.strip().lower().startswith("pneumo"):
            lines.append(spec.strip())
    return lines


def requirements() -> list[str]:
    """From the installed package's metadata, else (a plain checkout) from pyproject.toml."""
    try:
        requires = importlib.metadata.requires("pneumo")
    except importlib.metadata.PackageNotFoundError:
        requires = None
    if requires is None:
        import tomllib

        project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
        requires = list(project["dependencies"]) + [f'{r}; extra == "{e}"' for e in SPACE_EXTRAS for r in project["optional-dependencies"][e]]
    return _requirement_lines(requires)


def examples_folder() -> Path:
    return next((p for p in (DEMO / "examples", REPO / "examples") if p.is_dir()), DEMO / "examples")


def build_space(out: Path, model: str = "default") -> Path:
    """Write the Space into ``out`` (which must not exist or be empty) and return it."""
    model_path = resolve_model(model)
    if model_path.parent.resolve() != (Path(pneumo_runtime.__file__).parent / "models").resolve():
        raise PneumoError(f"--model must be a shipped model ({', '.join(shipped_models())}), not {model}")
    if out.exists() and any(out.iterdir()):
        raise PneumoError(f"{out} is not empty")
    runtime_src = Path(pneumo_runtime.__file__).resolve().parent
    runtime = out / "pneumo_runtime"
    # The sources, the chosen model and its contract; not the other models (the Space serves one).
    shutil.copytree(runtime_src, runtime, ignore=shutil.ignore_patterns("__pycache__", "*.onnx", "*.json", "*.pt"))
    for suffix in (".onnx", ".json"):
        shutil.copy2(model_path.with_suffix(suffix), runtime / "models" / model_path.with_suffix(suffix).name)
    demo = out / "pneumo" / "demo"  # "pneumo" stays a namespace package, as when installed
    shutil.copytree(DEMO, demo, ignore=shutil.ignore_patterns("__pycache__", "examples", "requirements.txt", "SPACE.md", "space_app.py"))
    shutil.copytree(examples_folder(), demo / "examples")  # where pneumo.demo.app looks first
    (out / "app.py").write_text(APP.format(argv=[] if model_path.name == "default.onnx" else ["--model", model_path.stem]))
    (out / "requirements.txt").write_text("# pneumo's runtime and DICOM support; Gradio comes from the README's sdk_version.\n"
                                          + "\n".join(requirements()) + "\n")
    (out / "README.md").write_text(README.format(sdk=GRADIO_SDK_VERSION, python=PYTHON_VERSION, disclaimer=DISCLAIMER, model=model))
    (out / ".gitattributes").write_text(GITATTRIBUTES)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pneumo.demo.space", description="Assemble a ready Hugging Face Space folder for the pneumo demo.")
    parser.add_argument("out", type=Path, help="the folder to create (must not exist or be empty)")
    parser.add_argument("--model", default="default", help="the shipped model the Space serves (" + ", ".join(shipped_models()) + "; default: default)")
    args = parser.parse_args(argv)
    try:
        out = build_space(args.out, args.model)
    except PneumoError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    print(f"wrote the Space to {out} ({size:.1f} MB); push it with Git LFS installed (.gitattributes puts *.onnx under LFS)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
