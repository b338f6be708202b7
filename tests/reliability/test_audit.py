"""The dependency audit's offline path: installed packages against a local OSV advisory file."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit_dependencies.py"


@pytest.fixture(scope="module")
def audit():
    spec = importlib.util.spec_from_file_location("audit_dependencies", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def advisory(name: str, events: list[dict], versions: list[str] = ()) -> dict:
    return {"id": f"TEST-{name}", "summary": "made up for the test", "modified": "2026-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": "PyPI", "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}], "versions": list(versions)}]}


def test_osv_ranges(audit):
    fixed = advisory("x", [{"introduced": "1.0"}, {"fixed": "1.4.2"}])["affected"][0]
    assert audit.is_affected("1.2", fixed) and not audit.is_affected("1.4.2", fixed) and not audit.is_affected("0.9", fixed)
    open_ended = advisory("x", [{"introduced": "0"}])["affected"][0]
    assert audit.is_affected("99.0", open_ended)
    last = advisory("x", [{"introduced": "2.0"}, {"last_affected": "2.1"}])["affected"][0]
    assert audit.is_affected("2.1", last) and not audit.is_affected("2.2", last)
    assert audit.is_affected("3.3", advisory("x", [], versions=["3.3"])["affected"][0])


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--offline", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_offline_audit_reports_an_installed_package_an_advisory_covers(tmp_path):
    file = tmp_path / "advisories.json"
    file.write_text(json.dumps([advisory("NumPy", [{"introduced": "0"}]), advisory("numpy", [{"introduced": "0"}, {"fixed": "0.0.1"}])]))
    done = run("--advisories", file)
    assert done.returncode == 1 and f"VULNERABLE numpy {numpy.__version__}: TEST-NumPy" in done.stdout
    assert done.stdout.count("VULNERABLE") == 1 and "only as current as that file" in done.stdout


def test_offline_audit_without_a_file_fails_clearly():
    done = run()
    assert done.returncode == 3 and "cannot audit" in done.stderr and "Traceback" not in done.stderr
