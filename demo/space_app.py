"""Hugging Face Space entry point (``app_file: demo/space_app.py``).

A Space runs this file as a script from a plain checkout where nothing is pip-installed, so the
repository root goes on ``sys.path`` and ``demo/`` is registered as the package ``pneumo.demo``.
"""

import importlib.util
import sys
import types
from pathlib import Path

DEMO = Path(__file__).resolve().parent
sys.path.insert(0, str(DEMO.parent))  # pneumo_runtime/ sits beside demo/

if importlib.util.find_spec("pneumo") is None:
    sys.modules["pneumo"] = types.ModuleType("pneumo")
    sys.modules["pneumo"].__path__ = []
if "pneumo.demo" not in sys.modules:
    try:
        found = importlib.util.find_spec("pneumo.demo")
    except ModuleNotFoundError:
        found = None
    if found is None:
        spec = importlib.util.spec_from_file_location("pneumo.demo", DEMO / "__init__.py", submodule_search_locations=[str(DEMO)])
        package = importlib.util.module_from_spec(spec)
        sys.modules["pneumo.demo"] = package
        spec.loader.exec_module(package)

from pneumo.demo.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
