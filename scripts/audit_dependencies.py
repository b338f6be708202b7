"""Known vulnerabilities in the installed dependencies (README, "Reliability").

Online: runs ``pip-audit --strict`` on this interpreter's environment (``pip install '.[audit]'``);
``--strict`` makes a package that could not be checked a failure, never a silent pass.
Offline, or when the advisory service cannot be reached: checks every installed distribution against
a local advisory file in the OSV format (``--advisories``: one OSV JSON record, a list of them, a
folder of them, or the PyPI ``all.zip`` export of osv.dev, fetched where there is a network).
With neither, it says so and fails: no network is never reported as "no vulnerabilities".

    python scripts/audit_dependencies.py [--offline] [--advisories FILE_OR_FOLDER]

Exit codes: 0 nothing known, 1 vulnerable packages found, 3 could not audit.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.version import InvalidVersion, Version

UNREACHABLE = re.compile(r"ConnectionError|NameResolution|Max retries|Temporary failure|timed out|Network is unreachable", re.IGNORECASE)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    return {normalise(d.metadata["Name"]): d.version for d in importlib.metadata.distributions() if d.metadata["Name"]}


def online_audit() -> tuple[int, str]:
    """(exit code, report) from pip-audit; 3 when it cannot reach its advisory service."""
    try:
        import pip_audit  # noqa: F401
    except ImportError:
        return 3, "pip-audit is not installed (pip install '.[audit]')"
    done = subprocess.run([sys.executable, "-m", "pip_audit", "--strict", "--progress-spinner", "off", "--desc", "off"],
                          capture_output=True, text=True, env={**os.environ, "PIPAPI_PYTHON_LOCATION": sys.executable})
    text = (done.stdout + done.stderr).strip()
    if done.returncode != 0 and (UNREACHABLE.search(text) or "could not be audited" in text or "not found on PyPI" in text):
        skipped = text.count("could not be audited")
        cause = next((line for line in reversed(text.splitlines()) if UNREACHABLE.search(line)), "")
        return 3, (f"pip-audit could not check {skipped} packages against its advisory service (unreachable from here?)"
                   + (f": {cause.strip()[:300]}" if cause else ""))
    return (0 if done.returncode == 0 else 1), text


def load_advisories(source: Path) -> list[dict]:
    if source.is_dir():
        return [record for path in sorted(source.rglob("*.json")) for record in _records(json.loads(path.read_text()))]
    if source.suffix == ".zip":
        with zipfile.ZipFile(source) as archive:
            return [record for name in archive.namelist() if name.endswith(".json") for record in _records(json.loads(archive.read(name)))]
    return _records(json.loads(source.read_text()))


def _records(data) -> list[dict]:
    return data if isinstance(data, list) else [data]


def is_affected(version: str, affected: dict) -> bool:
    """OSV semantics: listed versions, or ECOSYSTEM ranges ``introduced <= v < fixed`` (``<= last_affected``)."""
    if version in affected.get("versions", []):
        return True
    try:
        current = Version(version)
    except InvalidVersion:
        return False
    for span in affected.get("ranges", []):
        if span.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue
        start = None
        for event in span.get("events", []):
            if "introduced" in event:
                start = Version("0") if event["introduced"] == "0" else Version(event["introduced"])
            elif start is not None and "fixed" in event:
                if start <= current < Version(event["fixed"]):
                    return True
                start = None
            elif start is not None and "last_affected" in event:
                if start <= current <= Version(event["last_affected"]):
                    return True
                start = None
        if start is not None and current >= start:  # introduced and never fixed
            return True
    return False


def offline_audit(advisories: list[dict], packages: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(package, version, advisory id, summary) for each installed package an advisory covers."""
    found = []
    for record in advisories:
        for affected in record.get("affected", []):
            package = affected.get("package", {})
            name = normalise(package.get("name", ""))
            if package.get("ecosystem", "PyPI") == "PyPI" and name in packages and is_affected(packages[name], affected):
                found.append((name, packages[name], record.get("id", "?"), (record.get("summary") or "")[:100]))
    return sorted(set(found))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offline", action="store_true", help="do not try pip-audit's online service")
    parser.add_argument("--advisories", type=Path, help="local OSV advisories: a JSON file, a folder of them, or all.zip")
    args = parser.parse_args(argv)
    if not args.offline:
        code, report = online_audit()
        if code != 3:
            print(f"pip-audit (online):\n{report}")
            return code
        print(f"audit: {report}", file=sys.stderr)
    if not args.advisories:
        print("audit: cannot audit: no advisory service reachable and no --advisories file given "
              "(fetch osv.dev's PyPI all.zip where there is a network, then pass it here)", file=sys.stderr)
        return 3
    try:
        advisories = load_advisories(args.advisories)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        print(f"audit: cannot read {args.advisories}: {exc}", file=sys.stderr)
        return 3
    packages = installed()
    found = offline_audit(advisories, packages)
    newest = max((r.get("modified", "") for r in advisories), default="") or "unknown"
    print(f"offline audit: {len(packages)} installed distributions against {len(advisories)} advisories "
          f"from {args.advisories} (newest modified {newest}); only as current as that file")
    for name, version, advisory, summary in found:
        print(f"VULNERABLE {name} {version}: {advisory} {summary}")
    print(f"{len(found)} known vulnerabilities found" if found else "no known vulnerabilities in that file")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
