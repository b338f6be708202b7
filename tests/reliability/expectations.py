"""One check of a case's written-down expectation, shared by the library, CLI and demo tests."""

from __future__ import annotations

import re

from corpus import NOT_CONFIDENT, REFUSED, REJECTED, SAME, Case


def check(case: Case, decision: str | None, message: str, source_decision: str) -> None:
    """``decision``: NORMAL/PNEUMONIA/REFER/REJECTED, or None for a refusal whose text is ``message``."""
    if case.expect == REFUSED:
        assert decision is None, f"{case.name}: expected a refusal, got {decision}"
        assert re.search(case.reason, message), f"{case.name}: refusal {message!r} does not match {case.reason!r}"
        assert "\n" not in message.strip() and "Traceback" not in message
    elif case.expect == REJECTED:
        assert decision == "REJECTED" and re.search(case.reason, message), f"{case.name}: {decision} {message!r}"
    elif case.expect == NOT_CONFIDENT:
        assert decision in ("REJECTED", "REFER"), f"{case.name}: a confident {decision} on an input that must never get one"
    elif case.expect == SAME:
        assert decision == source_decision, f"{case.name}: {decision} ({message}), the source film gives {source_decision}"
    else:
        raise AssertionError(f"unknown expectation {case.expect}")
