import subprocess
import sys


def test_runtime_imports_without_torch():
    """The runtime must run where torch is absent: importing it must not pull torch in."""
    code = "import sys, pneumo_runtime, pneumo_runtime.preprocess; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
