"""Disk footprint: the base runtime environment against the ``[train]`` one, the wheel, the models.

    python -m benchmarks.footprint [--quick] [--no-wheel]

Environment sizes are the installed files of each distribution (from its RECORD), summed over the
dependency closure of ``pneumo`` (the base install) and of ``pneumo[train]``, as installed in the
running interpreter's environment; the interpreter itself and pip are not counted. The wheel is
built here (``pip wheel . --no-deps``) and measured.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from .common import MODELS, REPO, WEIGHTS


def requirement_name(requirement: str) -> tuple[str, str | None]:
    """'torch>=2.2; extra == "train"' -> ('torch', 'train'); markers other than extras are ignored."""
    name = re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]
    extra = re.search(r'extra\s*==\s*["\']([^"\']+)["\']', requirement)
    return name.lower().replace("_", "-"), extra.group(1) if extra else None


def closure(roots: list[str]) -> set[str]:
    """Names of every installed distribution the roots need, recursively (extras of dependencies not followed)."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        pending += [dep for dep, extra in map(requirement_name, requires) if extra is None]
    return seen


def installed_mb(name: str) -> float:
    distribution = metadata.distribution(name)
    total = 0
    for file in distribution.files or []:
        path = Path(distribution.locate_file(file))
        if path.is_file():
            total += path.stat().st_size
    return total / 1e6


def pneumo_requirements(extra: str | None) -> list[str]:
    """Direct requirements of pneumo (base, or base plus one extra), from pyproject.toml."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = [requirement_name(r)[0] for r in project["dependencies"]]
    if extra:
        names += [requirement_name(r)[0] for r in project["optional-dependencies"][extra] if not r.startswith("pneumo")]
    return names


def environment(extra: str | None) -> dict:
    names = closure(pneumo_requirements(extra))
    sizes = {name: round(installed_mb(name), 1) for name in sorted(names)}
    return {"distributions": len(sizes), "total_mb": round(sum(sizes.values()), 1),
            "largest": dict(sorted(sizes.items(), key=lambda item: -item[1])[:8])}


def wheel_mb() -> float | str:
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", scratch],
                              cwd=REPO, capture_output=True, text=True)
        wheels = list(Path(scratch).glob("*.whl"))
        if done.returncode or not wheels:
            return "not built: " + (done.stderr.strip().splitlines() or ["pip wheel failed"])[-1][:200]
        return round(wheels[0].stat().st_size / 1e6, 1)


def run(quick: bool = False, wheel: bool = True) -> dict:
    return {"base_runtime": environment(None), "train": environment("train"),
            "wheel_mb": wheel_mb() if wheel and not quick else "not built (quick run)",
            "models_mb": {path.name: round(path.stat().st_size / 1e6, 1) for path in [*sorted(MODELS.glob("*.onnx")), *sorted(WEIGHTS.glob("*.pt"))]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-wheel", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, not args.no_wheel), indent=1))


if __name__ == "__main__":
    main()
