import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "normal_NORMAL2-IM-0765-0001.jpeg"


def test_runtime_predicts_without_importing_torch():
    """The runtime must run where torch is absent: a whole prediction must not pull torch in."""
    code = (
        "import sys\n"
        "from pneumo_runtime.predictor import Predictor\n"
        "import pneumo_runtime.predict_cli\n"
        f"Predictor().predict({str(EXAMPLE)!r})\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'timm', 'captum', 'pneumo'))\n"
        "assert not leaked, leaked\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
