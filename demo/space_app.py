"""Hugging Face Space entry point (``app_file: demo/space_app.py``).

A Space runs this file as a script from a plain checkout where nothing is pip-installed. The
repository root goes on ``sys.path``: the runtime imports as ``pneumo_runtime`` and this folder as
the package ``demo`` (its modules import one another relatively, so the name does not matter).
An installed pneumo is used as it is.
"""

import importlib.util
import sys
from pathlib import Path

try:
    installed = importlib.util.find_spec("pneumo.demo.demo_cli") is not None
except ModuleNotFoundError:  # no "pneumo" package at all
    installed = False
if installed:
    from pneumo.demo.demo_cli import main
else:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # pneumo_runtime/ sits beside demo/
    from demo.demo_cli import main

if __name__ == "__main__":
    sys.exit(main())
