#!/usr/bin/env bash
# Mutation testing of the modules a decision depends on (docs/developers/mutation-testing.md):
# mutmut changes them one small edit at a time (a > for a >=, a constant, a deleted call) and runs
# the fast runtime and reliability tests against each change; a change no test notices is a
# "survivor", behaviour the tests do not pin. The modules and the tests are set in pyproject.toml
# ([tool.mutmut]). Not part of .ci/run: a full run takes about an hour on one busy core.
#
# Usage: bash scripts/mutation_test.sh [--fresh]
#   --fresh  forget earlier results (mutants/); otherwise only changed functions are tested again
# Then: python -m mutmut show NAME (the edit), python -m mutmut browse (all of them).
# Exits 1 when fewer than MUTATION_TARGET percent (default 90) of the mutants are killed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}"
[ "${1:-}" = "--fresh" ] && rm -rf mutants
# One worker, one thread, low priority: the tests themselves are single-threaded, and the machine stays usable.
OMP_NUM_THREADS=1 nice -n 10 "$PYTHON" -m mutmut run --max-children "${MUTMUT_CHILDREN:-1}" >/dev/null
"$PYTHON" -m mutmut results --all true | "$PYTHON" -c '
import collections, re, sys
target = float(sys.argv[1])
counts = collections.defaultdict(collections.Counter)
survivors = []
for line in sys.stdin:
    match = re.match(r"\s*(pneumo_runtime\.\w+)\.(\S+): (.+)$", line)
    if match:
        module, name, status = match.groups()
        counts[module][status] += 1
        if status not in ("killed", "timeout"):
            survivors.append(f"{module}.{name}: {status}")
total = collections.Counter()
print("%-28s %7s %7s %6s" % ("module", "mutants", "killed", "score"))
for module, c in sorted(counts.items()):
    total.update(c)
    n, k = sum(c.values()), c["killed"] + c["timeout"]
    print(f"{module:<28} {n:>7} {k:>7} {100 * k / n:>5.1f}%")
n, k = sum(total.values()), total["killed"] + total["timeout"]
print("%-28s %7d %7d %5.1f%%" % ("all", n, k, 100 * k / n))
print("\n".join(["", "not killed:"] + survivors) if survivors else "")
sys.exit(0 if n and 100 * k / n >= target else 1)
' "${MUTATION_TARGET:-90}"
