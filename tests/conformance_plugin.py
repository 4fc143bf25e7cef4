"""`--conformance-report PATH`: after the run, write the conformance marks of every test item that has some,
with the item's outcome, as JSON for scripts/conformance.py.

An item's outcome is "failed" if any phase (setup, call, teardown) failed, "skipped" if it was skipped,
"passed" if its call passed, "not run" otherwise (deselected items are not reported). Parametrized tests are
reported one item per parameter set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

MARK = "conformance"
FIELDS = ("provider", "ingress", "feature", "expect")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--conformance-report",
        metavar="PATH",
        default=None,
        help="write the outcome of every test with conformance marks to PATH (JSON)",
    )


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--conformance-report")
    if path is not None:
        config.pluginmanager.register(ConformanceRecorder(Path(path)), "conformance-recorder")


def cell_of(mark: pytest.Mark) -> dict[str, str]:
    """A mark's provider, ingress, feature and expect (default "ok"), given by keyword or position."""
    values: dict[str, Any] = {"expect": "ok", **dict(zip(FIELDS, mark.args, strict=False)), **mark.kwargs}
    if any(name not in values for name in FIELDS) or values["expect"] not in ("ok", "error"):
        raise pytest.UsageError(f"a conformance mark needs provider, ingress, feature and expect ok|error: {mark}")
    return {name: str(values[name]) for name in FIELDS}


class ConformanceRecorder:
    """Records the marks at collection and the outcome of each phase; writes the report when the session ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: dict[str, dict[str, Any]] = {}

    @pytest.hookimpl(trylast=True)  # after -m and -k deselected what they deselect
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            marks = [cell_of(mark) for mark in item.iter_markers(name=MARK)]
            if marks:
                self.items[item.nodeid] = {"nodeid": item.nodeid, "marks": marks, "outcome": "not run"}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self.items.get(report.nodeid)
        if entry is None:
            return
        if report.failed:
            entry["outcome"] = "failed"
        elif report.skipped and entry["outcome"] != "failed":
            entry["outcome"] = "skipped"
        elif report.when == "call" and report.passed and entry["outcome"] == "not run":
            entry["outcome"] = "passed"

    def pytest_sessionfinish(self) -> None:
        report = {"items": sorted(self.items.values(), key=lambda entry: str(entry["nodeid"]))}
        self.path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
