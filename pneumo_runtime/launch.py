"""How a console script starts: it names a missing extra instead of dying with a traceback.

``pip install pneumo`` installs every command, but ``pneumo-train`` needs the ``[train]`` extra,
``pneumo-demo`` the ``[demo]`` extra, and so on. Each command enters through a light ``launch``
module in its own room (``pneumo.training.launch``, ``pneumo.export.launch``,
``pneumo.site_kit.launch``, ``pneumo.serve.launch``, ``pneumo.demo.launch``) that calls
:func:`run` here with the module holding ``main()`` and the extra it needs. :func:`run` checks the
extra's requirements against the installed distributions (the package's own metadata, so
pyproject.toml stays the one list), then imports and runs the command; an import that still fails
for want of a third-party module is caught too. Either way the user reads one line, what is missing
and the ``pip install "pneumo[...]"`` that fixes it, and the exit status is 2.

It lives in the runtime because every install has it and it imports nothing optional; it names the
command's module as a string, so the runtime still never imports training, export, demo or serve.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
from collections.abc import Callable

DISTRIBUTION = "pneumo"
OWN_MODULES = ("pneumo", "pneumo_runtime")
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


def run(command: str, module_name: str, extra: str, argv: list[str] | None = None) -> int:
    """Run ``module_name.main(argv)`` as ``command`` if the ``extra`` it needs is installed, else say which is missing (exit 2)."""
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

