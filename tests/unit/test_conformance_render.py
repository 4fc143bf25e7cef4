"""scripts/conformance.py on a synthetic report: each cell's symbol, the n/a reasons and missing cells under the
tables, failures and stray marks making the run fail; and the pytest plugin writing the report it reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from scripts.conformance import (
    ERROR,
    FAILED,
    INGRESS_FEATURES,
    MISSING,
    NOT_APPLICABLE_MARK,
    OK,
    build_matrix,
    main,
    render,
)

PROVIDERS = ("openai", "anthropic", "mock")


def item(nodeid: str, outcome: str, *cells: tuple[str, str, str, str]) -> dict[str, Any]:
    marks = [{"provider": p, "ingress": i, "feature": f, "expect": e} for p, i, f, e in cells]
    return {"nodeid": nodeid, "marks": marks, "outcome": outcome}


REPORT = {
    "items": [
        item("t.py::test_text", "passed", ("openai", "chat", "text", "ok"), ("anthropic", "chat", "text", "ok")),
        item("t.py::test_json[a]", "passed", ("anthropic", "chat", "json_mode", "error")),
        item("t.py::test_json[b]", "passed", ("anthropic", "chat", "json_mode", "error")),
        item("t.py::test_both", "passed", ("openai", "chat", "tools", "ok")),
        item("t.py::test_refused", "passed", ("openai", "chat", "tools", "error")),
    ]
}


def row(markdown: str, ingress: str, provider: str) -> dict[str, str]:
    section = markdown.split(f"## {ingress}\n", 1)[1]
    line = next(line for line in section.splitlines() if line.startswith(f"| {provider} |"))
    symbols = [cell.strip() for cell in line.strip("|").split("|")][1:]
    return dict(zip(INGRESS_FEATURES[ingress], symbols, strict=True))


def test_cells_show_ok_error_not_applicable_and_missing() -> None:
    markdown = render(build_matrix(REPORT, PROVIDERS), PROVIDERS)
    openai_chat, anthropic_chat, mock_chat = (row(markdown, "chat", p) for p in PROVIDERS)
    assert (openai_chat["text"], anthropic_chat["text"]) == (OK, OK)
    assert anthropic_chat["json_mode"] == ERROR
    assert openai_chat["tools"] == OK  # a cell with a working case and a refused one works
    assert anthropic_chat["passthrough"] == NOT_APPLICABLE_MARK
    assert mock_chat["tools"] == NOT_APPLICABLE_MARK
    assert openai_chat["image_url"] == MISSING


def test_reasons_and_missing_cells_are_listed_under_each_table() -> None:
    markdown = render(build_matrix(REPORT, PROVIDERS), PROVIDERS)
    chat = markdown.split("## chat\n", 1)[1].split("## messages\n", 1)[0]
    assert "- passthrough for anthropic, mock: the target does not speak OpenAI chat completions" in chat
    # features with the same reason and the same providers share a line
    assert "- tools, tool_choice, parallel_tools, tool_no_args, stream_tools, tool_result_image for mock: " in chat
    missing = chat.split(f"{MISSING} cells without a test:", 1)[1]
    assert "- openai: system, multi_turn," in missing
    assert " text," not in missing.splitlines()[2]  # openai chat text is tested


def test_a_failed_or_skipped_test_turns_its_cell_red_and_is_named() -> None:
    report = {
        "items": [
            *REPORT["items"],
            item("t.py::test_broken", "failed", ("openai", "chat", "text", "ok")),
            item("t.py::test_skipped", "skipped", ("anthropic", "messages", "text", "ok")),
        ]
    }
    matrix = build_matrix(report, PROVIDERS)
    markdown = render(matrix, PROVIDERS)
    assert row(markdown, "chat", "openai")["text"] == FAILED
    assert row(markdown, "messages", "anthropic")["text"] == FAILED
    assert {(c.provider, c.ingress, c.feature) for c in matrix.failed} == {
        ("openai", "chat", "text"),
        ("anthropic", "messages", "text"),
    }
    assert "`t.py::test_broken` failed" in markdown and "`t.py::test_skipped` skipped" in markdown


def test_stray_marks_and_contradicted_declarations_are_problems(tmp_path: Path) -> None:
    report = {
        "items": [
            item("t.py::test_typo", "passed", ("openai", "chat", "txt", "ok")),
            item("t.py::test_mock_tools", "passed", ("mock", "chat", "tools", "ok")),
        ]
    }
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    output = tmp_path / "conformance.md"
    assert main(["--report", str(path), "--output", str(output)]) == 1
    markdown = output.read_text()
    assert "`t.py::test_typo`: openai/chat/txt is not a cell of the matrix" in markdown
    assert "mock/chat/tools is declared not applicable but tested" in markdown


def test_a_clean_report_exits_zero_and_every_ingress_has_a_table(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(REPORT))
    output = tmp_path / "conformance.md"
    assert main(["--report", str(path), "--output", str(output)]) == 0
    headings = [line for line in output.read_text().splitlines() if line.startswith("## ")]
    assert headings == ["## chat", "## messages", "## completions", "## embeddings", "## responses"]


SAMPLE = """
import pytest

@pytest.mark.conformance(provider="openai", ingress="chat", feature="text")
@pytest.mark.parametrize("n", [1, 2])
def test_ok(n):
    assert n

@pytest.mark.conformance("anthropic", "chat", "json_mode", expect="error")
def test_fails():
    assert False

def test_unmarked():
    pass
"""


def test_the_plugin_reports_every_marked_item_with_its_outcome(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.conformance_plugin"]\n')
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    conformance(provider, ingress, feature, expect): a cell\n"
    )
    report = tmp_path / "report.json"
    root = Path(__file__).resolve().parents[2]
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--conformance-report", str(report), "."],
        cwd=tmp_path,
        env={"PYTHONPATH": str(root), "PATH": ""},
        capture_output=True,
        check=False,
    )
    assert completed.returncode == 1, completed.stdout
    items = json.loads(report.read_text())["items"]
    assert [(i["nodeid"], i["outcome"]) for i in items] == [
        ("test_sample.py::test_fails", "failed"),
        ("test_sample.py::test_ok[1]", "passed"),
        ("test_sample.py::test_ok[2]", "passed"),
    ]
    assert items[0]["marks"] == [
        {"provider": "anthropic", "ingress": "chat", "feature": "json_mode", "expect": "error"}
    ]
    assert items[1]["marks"] == [{"provider": "openai", "ingress": "chat", "feature": "text", "expect": "ok"}]
