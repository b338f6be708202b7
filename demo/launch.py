"""Console-script entry points that name a missing extra instead of dying with a traceback.

``pip install pneumo`` installs every command, but ``pneumo-train`` needs the ``[train]`` extra,
``pneumo-demo`` the ``[demo]`` extra, and so on. Each entry point here checks its extra's
requirements against the installed distributions (the package's own metadata, so pyproject.toml
stays the one list), then runs the command; an import that still fails for want of a third-party
module is caught too. Either way the user reads one line, what is missing and the
``pip install "pneumo[...]"`` that fixes it, and the exit status is 2.

This module lives in ``pneumo.demo`` because that package is always installed, imports nothing
heavy, and may import the others; the runtime must not.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
from collections.abc import Callable

DISTRIBUTION = "pneumo"
OWN_MODULES = ("pneumo", "pneumo_runtime")
# command -> (module with main(), the extra it needs)
COMMANDS = {
    "pneumo-train": ("pneumo.training.fit.cli", "train"),
    "pneumo-evaluate": ("pneumo.training.evaluation.cli", "train"),
    "pneumo-export": ("pneumo.export.cli", "export"),
    "pneumo-adapt": ("pneumo.export.adapt_cli", "export"),
    "pneumo-tune": ("pneumo.training.fit.tune", "tune"),
    "pneumo-demo": ("pneumo.demo.cli", "demo"),
    "pneumo-serve": ("pneumo.demo.serve_cli", "serve"),
}
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[([^\]]*)\])?")


def install_hint(extra: str) -> str:
    return f'pip install "pneumo[{extra}]"'


def extra_requirements(extra: str, requires: list[str] | None = None) -> list[str]:
    """Distribution names the extra needs, its nested ``pneumo[...]`` extras expanded.

    ``requires`` defaults to the installed package's metadata; without any (a plain checkout, as
    in a Space) the list is empty and only the import itself can tell."""
    if requires is None:
        try:
            requires = importlib.metadata.requires(DISTRIBUTION) or []
        except importlib.metadata.PackageNotFoundError:
            return []
    names: list[str] = []
    for requirement in requires:
        spec, _, marker = requirement.partition(";")
        found = _EXTRA_MARKER.search(marker)
        if not found or found.group(1) != extra:
            continue
        name = _NAME.match(spec)
        if not name:
            continue
        if name.group(1).lower() == DISTRIBUTION:
            for nested in (name.group(3) or "").split(","):
                names += [n for n in extra_requirements(nested.strip(), requires) if n not in names]
        elif name.group(1) not in names:
            names.append(name.group(1))
    return names


def is_installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def missing_message(command: str, extra: str, missing: list[str]) -> str:
    what = ", ".join(missing) + (" is" if len(missing) == 1 else " are")
    return f"{command}: error: {what} not installed; {command} needs the [{extra}] extra: {install_hint(extra)}"


def run(command: str, argv: list[str] | None = None) -> int:
    module_name, extra = COMMANDS[command]
    # Only what the command cannot start without: pneumo-torch-weights (for [explain]) is not one.
    missing = [name for name in extra_requirements(extra) if not is_installed(name)]
    if missing:
        print(missing_message(command, extra, missing), file=sys.stderr)
        return 2
    try:
        main: Callable[[list[str] | None], int] = importlib.import_module(module_name).main
        return main(argv)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if not top or top in OWN_MODULES:
            raise  # a broken pneumo install, not a missing extra: the traceback is the useful report
        print(missing_message(command, extra, [top]), file=sys.stderr)
        return 2


def train() -> int:
    return run("pneumo-train")


def evaluate() -> int:
    return run("pneumo-evaluate")


def export() -> int:
    return run("pneumo-export")


def adapt() -> int:
    return run("pneumo-adapt")


def tune() -> int:
    return run("pneumo-tune")


def demo() -> int:
    return run("pneumo-demo")


def serve() -> int:
    return run("pneumo-serve")
