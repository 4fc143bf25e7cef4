"""Render docs/conformance.md from the tests: one table per ingress protocol, a row per provider kind, a column
per feature. Run `make conformance` (or `python scripts/conformance.py [--report PATH]`).

Each test proving a cell carries `@pytest.mark.conformance(provider=..., ingress=..., feature=..., expect=...)`.
The script runs `pytest -m conformance --conformance-report <tmp>` (tests/conformance_plugin.py writes the
report), or reads a report given with `--report`, then marks each cell:

- ✅ every test of the cell passed and at least one asserts the feature works (expect="ok");
- ❌ every test of the cell passed and they assert a clear error (expect="error": the feature is refused);
- — not applicable, declared in NOT_APPLICABLE below with the reason printed under the table;
- ❔ no test and no declaration: listed under the table as a cell without a test;
- 🔴 a test of the cell failed (or was skipped, or not run): the script exits non-zero.

Marks naming a provider, ingress or feature outside the matrix, and n/a declarations contradicted by a test,
are listed too and also make the script exit non-zero."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataplane.endpoint_support import COMPLETIONS_KINDS, EMBEDDINGS_KINDS
from dataplane.responses import PASSTHROUGH_KINDS as RESPONSES_PASSTHROUGH_KINDS
from shared.snapshot import OPENAI_COMPATIBLE_KINDS, PROVIDER_KINDS

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "conformance.md"

INGRESSES = ("chat", "messages", "completions", "embeddings", "responses")
_CHAT_FEATURES = (
    "text",
    "system",
    "multi_turn",
    "stream_text",
    "tools",
    "tool_choice",
    "parallel_tools",
    "tool_no_args",
    "stream_tools",
    "tool_result_image",
    "image_url",
    "image_base64",
    "json_mode",
    "structured_output",
    "stop_sequences",
    "sampling_params",
    "finish_reason",
    "usage",
    "usage_cached",
    "usage_reasoning",
    "stream_usage",
    "errors",
    "passthrough",
)
# the columns of each ingress: only the features its protocol can express
INGRESS_FEATURES: dict[str, tuple[str, ...]] = {
    "chat": _CHAT_FEATURES,
    "messages": tuple(f for f in _CHAT_FEATURES if f != "json_mode"),  # structured output: output_config.format
    "completions": (
        "completions",
        "stream_text",
        "stop_sequences",
        "sampling_params",
        "finish_reason",
        "usage",
        "stream_usage",
        "errors",
        "passthrough",
    ),
    "embeddings": ("embeddings", "usage", "errors", "passthrough"),
    "responses": tuple(f for f in _CHAT_FEATURES if f != "stop_sequences"),
}
FEATURES = tuple(dict.fromkeys(f for features in INGRESS_FEATURES.values() for f in features))

_OPENAI_PROTOCOL = ("openai", *OPENAI_COMPATIBLE_KINDS, "azure_openai")
_TOOL_FEATURES = ("tools", "tool_choice", "parallel_tools", "tool_no_args", "stream_tools", "tool_result_image")


@dataclass(frozen=True)
class NotApplicable:
    """Cells that cannot exist, and why. `providers`/`ingresses` of "*" mean all."""

    providers: tuple[str, ...] | str
    ingresses: tuple[str, ...] | str
    features: tuple[str, ...]
    reason: str

    def covers(self, provider: str, ingress: str, feature: str) -> bool:
        return (
            (self.providers == "*" or provider in self.providers)
            and (self.ingresses == "*" or ingress in self.ingresses)
            and feature in self.features
        )


NOT_APPLICABLE: tuple[NotApplicable, ...] = (
    NotApplicable(
        tuple(k for k in PROVIDER_KINDS if k not in _OPENAI_PROTOCOL),
        ("chat",),
        ("passthrough",),
        "the target does not speak OpenAI chat completions: the request is translated, never forwarded as is",
    ),
    NotApplicable(
        tuple(k for k in PROVIDER_KINDS if k not in ("anthropic", "vertex_ai")),
        ("messages",),
        ("passthrough",),
        "the target does not speak Anthropic Messages: the request is translated, never forwarded as is",
    ),
    NotApplicable(
        _OPENAI_PROTOCOL,
        ("chat",),
        ("tool_result_image",),
        "OpenAI chat `tool` messages hold text only; for OpenAI-protocol targets the body is forwarded as is",
    ),
    NotApplicable(
        ("anthropic",),
        "*",
        ("usage_reasoning",),
        "Anthropic counts thinking tokens within `output_tokens` and reports no separate reasoning count",
    ),
    NotApplicable(
        ("cohere",), "*", ("usage_reasoning", "usage_cached"), "Cohere v2 reports no cached or reasoning tokens"
    ),
    NotApplicable(
        ("anthropic",),
        ("embeddings",),
        ("usage", "errors", "passthrough"),
        "Anthropic has no embeddings API (the embeddings cell itself proves the refusal)",
    ),
    NotApplicable(
        ("mock",),
        "*",
        _TOOL_FEATURES,
        "the mock echoes the last user message; it never calls tools",
    ),
    NotApplicable(
        ("mock",),
        "*",
        ("image_url", "image_base64", "json_mode", "structured_output", "stop_sequences"),
        "the mock echoes the text of the last user message, whatever the format asked",
    ),
    NotApplicable(("mock",), "*", ("usage_cached", "usage_reasoning"), "the mock has no prompt cache and no reasoning"),
    NotApplicable(("mock",), "*", ("errors", "passthrough"), "the mock answers in process and never fails"),
    # completions and embeddings gaps
    NotApplicable(
        tuple(k for k in PROVIDER_KINDS if k not in COMPLETIONS_KINDS),
        ("completions",),
        tuple(f for f in INGRESS_FEATURES["completions"] if f != "completions"),
        "the endpoint is refused for this kind (no OpenAI-style text completions to forward to); the "
        "`completions` cell proves the refusal",
    ),
    NotApplicable(
        tuple(k for k in PROVIDER_KINDS if k not in EMBEDDINGS_KINDS),
        ("embeddings",),
        ("usage", "errors", "passthrough"),
        "the endpoint is refused for this kind (no embeddings API, or none the gateway translates to); the "
        "`embeddings` cell proves the refusal",
    ),
    NotApplicable(
        ("gemini", "cohere"),
        ("embeddings",),
        ("passthrough",),
        "translated to the provider's own embed API (batchEmbedContents, v2 Embed), never forwarded as is",
    ),
    # responses gaps
    NotApplicable(
        tuple(k for k in PROVIDER_KINDS if k not in RESPONSES_PASSTHROUGH_KINDS and k != "mock"),
        ("responses",),
        ("passthrough",),
        "the gateway knows no Responses endpoint of this kind (none documented, or only beta, preview or "
        "version-dependent): the request is translated to chat completions, never forwarded as is",
    ),
    # usage classes a provider's usage object does not have (chat, messages and responses all read it)
    NotApplicable(
        ("mistral",),
        ("chat", "messages", "responses"),
        ("usage_cached", "usage_reasoning"),
        "Mistral's chat usage (`UsageInfo`: `prompt_tokens`, `completion_tokens`, `total_tokens`, "
        "`prompt_audio_seconds`) has no cached-token or reasoning-token count",
    ),
    NotApplicable(
        ("together",),
        ("chat", "messages", "responses"),
        ("usage_cached", "usage_reasoning"),
        "Together's chat usage (`UsageData`: `prompt_tokens`, `completion_tokens`, `total_tokens`) documents no "
        "cached-token or reasoning-token count",
    ),
    NotApplicable(
        ("ollama",),
        ("chat", "messages", "responses"),
        ("usage_cached", "usage_reasoning"),
        "Ollama's OpenAI-compatible usage holds `prompt_tokens`, `completion_tokens` and `total_tokens` only",
    ),
    NotApplicable(
        ("vllm",),
        ("chat", "messages", "responses"),
        ("usage_reasoning",),
        "vLLM's `UsageInfo` (`prompt_tokens`, `completion_tokens`, `total_tokens`, "
        "`prompt_tokens_details.cached_tokens`) has no reasoning-token count",
    ),
    NotApplicable(
        ("fireworks",),
        ("chat", "messages"),  # its Responses endpoint is relayed as is, reasoning counts included
        ("usage_reasoning",),
        "Fireworks' usage counts prompt, cached prompt and generated tokens (`prompt_tokens`, "
        "`prompt_tokens_details.cached_tokens`, `completion_tokens`); it has no reasoning-token count",
    ),
    NotApplicable(
        ("bedrock",),
        ("chat", "messages", "responses"),
        ("usage_reasoning",),
        "Bedrock Converse usage (`inputTokens`, `outputTokens`, `totalTokens`, `cacheReadInputTokens`, "
        "`cacheWriteInputTokens`) has no reasoning-token count",
    ),
)

OK, ERROR, NOT_APPLICABLE_MARK, MISSING, FAILED = "✅", "❌", "—", "❔", "🔴"


@dataclass
class Cell:
    provider: str
    ingress: str
    feature: str
    tests: list[tuple[str, str, str]] = field(default_factory=list)  # (nodeid, expect, outcome)
    not_applicable: NotApplicable | None = None

    @property
    def symbol(self) -> str:
        outcomes = {outcome for _, _, outcome in self.tests}
        if outcomes - {"passed"}:
            return FAILED
        if any(expect == "ok" for _, expect, _ in self.tests):
            return OK
        if self.tests:
            return ERROR
        return NOT_APPLICABLE_MARK if self.not_applicable is not None else MISSING


@dataclass
class Matrix:
    cells: dict[tuple[str, str, str], Cell]
    stray: list[str]  # marks outside the matrix

    @property
    def failed(self) -> list[Cell]:
        return [cell for cell in self.cells.values() if cell.symbol == FAILED]

    @property
    def missing(self) -> list[Cell]:
        return [cell for cell in self.cells.values() if cell.symbol == MISSING]

    @property
    def contradicted(self) -> list[Cell]:
        """Cells declared not applicable that nevertheless have tests."""
        return [cell for cell in self.cells.values() if cell.not_applicable is not None and cell.tests]


def build_matrix(report: dict[str, Any], providers: tuple[str, ...] = PROVIDER_KINDS) -> Matrix:
    cells: dict[tuple[str, str, str], Cell] = {}
    for ingress in INGRESSES:
        for provider in providers:
            for feature in INGRESS_FEATURES[ingress]:
                rule = next((r for r in NOT_APPLICABLE if r.covers(provider, ingress, feature)), None)
                cells[provider, ingress, feature] = Cell(provider, ingress, feature, not_applicable=rule)
    stray: list[str] = []
    for item in report.get("items", []):
        for mark in item["marks"]:
            cell = cells.get((mark["provider"], mark["ingress"], mark["feature"]))
            if cell is None:
                where = "/".join((mark["provider"], mark["ingress"], mark["feature"]))
                stray.append(f"`{item['nodeid']}`: {where} is not a cell of the matrix")
                continue
            cell.tests.append((item["nodeid"], mark["expect"], item["outcome"]))
    return Matrix(cells, stray)


def render(matrix: Matrix, providers: tuple[str, ...] = PROVIDER_KINDS) -> str:
    tested = sum(1 for cell in matrix.cells.values() if cell.tests)
    tests = len({nodeid for cell in matrix.cells.values() for nodeid, _, _ in cell.tests})
    lines = [
        "# Conformance matrix",
        "",
        "Generated by `make conformance` (`scripts/conformance.py`) from the tests marked",
        "`@pytest.mark.conformance(provider, ingress, feature, expect)`; do not edit by hand.",
        "",
        f"{OK} a passing test proves the feature works · {ERROR} a passing test proves the feature is refused with a "
        f"clear 4xx error · {NOT_APPLICABLE_MARK} not applicable (reason under the table) · {MISSING} no test yet · "
        f"{FAILED} a test failed",
        "",
        f"{tested} cells proven by {tests} tests; {len(matrix.missing)} cells without a test; "
        f"{len(matrix.failed)} cells failing.",
        "",
        "Ingress protocols: chat = OpenAI `POST /v1/chat/completions`, messages = Anthropic `POST /v1/messages`, "
        "completions = OpenAI `POST /v1/completions`, embeddings = OpenAI `POST /v1/embeddings`, responses = OpenAI "
        "`POST /v1/responses`.",
    ]
    for ingress in INGRESSES:
        lines.extend(_table(matrix, ingress, providers))
    problems = [*_problems(matrix)]
    if problems:
        lines.extend(["", "## Problems", "", *problems])
    return "\n".join(lines) + "\n"


def _table(matrix: Matrix, ingress: str, providers: tuple[str, ...]) -> list[str]:
    features = INGRESS_FEATURES[ingress]
    lines = ["", f"## {ingress}", "", "| provider | " + " | ".join(features) + " |"]
    lines.append("|---|" + "|".join(":-:" for _ in features) + "|")
    for provider in providers:
        symbols = [matrix.cells[provider, ingress, feature].symbol for feature in features]
        lines.append(f"| {provider} | " + " | ".join(symbols) + " |")
    cells = [matrix.cells[p, ingress, f] for p in providers for f in features]
    reasons: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for cell in cells:
        if cell.symbol == NOT_APPLICABLE_MARK and cell.not_applicable is not None:
            reasons[cell.not_applicable.reason][cell.feature].append(cell.provider)
    if reasons:
        lines.extend(["", f"{NOT_APPLICABLE_MARK} not applicable:", ""])
        for reason, by_feature in reasons.items():
            by_providers: dict[tuple[str, ...], list[str]] = defaultdict(list)  # features sharing their providers
            for feature, names in by_feature.items():
                by_providers[tuple(names)].append(feature)
            for providers_of, shared in by_providers.items():
                lines.append(f"- {', '.join(shared)} for {', '.join(providers_of)}: {reason}")
    missing: dict[str, list[str]] = defaultdict(list)
    for cell in cells:
        if cell.symbol == MISSING:
            missing[cell.provider].append(cell.feature)
    if missing:
        lines.extend(["", f"{MISSING} cells without a test:", ""])
        lines.extend(f"- {provider}: {', '.join(names)}" for provider, names in missing.items())
    return lines


def _problems(matrix: Matrix) -> list[str]:
    problems = []
    for cell in matrix.failed:
        for nodeid, _, outcome in cell.tests:
            if outcome != "passed":
                problems.append(f"- {FAILED} {cell.provider}/{cell.ingress}/{cell.feature}: `{nodeid}` {outcome}")
    for cell in matrix.contradicted:
        problems.append(f"- {cell.provider}/{cell.ingress}/{cell.feature} is declared not applicable but tested")
    problems.extend(f"- {stray}" for stray in matrix.stray)
    return problems


def run_pytest(report: Path, pytest_args: list[str]) -> int:
    command = [sys.executable, "-m", "pytest", "-m", "conformance", "-q", "--conformance-report", str(report)]
    return subprocess.run([*command, *pytest_args], cwd=ROOT, check=False).returncode  # noqa: S603


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--report", type=Path, help="read this report instead of running the tests")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"where to write (default {OUTPUT})")
    parser.add_argument("pytest_args", nargs="*", help="more arguments for pytest (after --)")
    args = parser.parse_args(argv)
    status = 0
    if args.report is not None:
        report = json.loads(args.report.read_text(encoding="utf-8"))
    else:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "conformance.json"
            status = run_pytest(path, args.pytest_args)
            if not path.exists():
                print(f"pytest wrote no report (exit status {status})", file=sys.stderr)
                return status or 1
            report = json.loads(path.read_text(encoding="utf-8"))
    matrix = build_matrix(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(matrix), encoding="utf-8")
    print(f"wrote {args.output}: {len(matrix.missing)} cells without a test, {len(matrix.failed)} failing")
    if matrix.failed or matrix.stray or matrix.contradicted:
        return 1
    return status if status not in (0, 5) else 0  # 5: pytest collected no test


if __name__ == "__main__":
    sys.exit(main())
