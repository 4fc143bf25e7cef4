"""The bench harness's own logic: wrk's report parsing, the tables and ratios, the SVG chart, the nginx fake's
config, /proc sampling, the peers' install state, and the aiohttp load client against a real loopback fake."""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bench import chart, loadgen, nginx, peers, procstat, wrk
from bench.__main__ import _why
from bench.fake_upstream import STREAM, make_app
from bench.report import DIRECT, NGINX, WAYPOST, Cell, Scenario, Summary, ratio_table, results_table, summary_lines

WRK_REPORT = """Running 3s test @ http://127.0.0.1:8080/json/v1/chat/completions
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   412.10us  120.00us   3.20ms   90.00%
  Latency Distribution
     50%  380.00us
     75%  450.00us
     90%  520.00us
     99%    1.25ms
  76543 requests in 3.00s, 30.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  25514.33
Transfer/sec:     10.00MB
"""


def test_wrk_report_parses_rate_percentiles_errors_and_total() -> None:
    result = wrk.parse(WRK_REPORT)
    assert result.requests_per_second == pytest.approx(25514.33)
    assert result.p50_ms == pytest.approx(0.38)
    assert result.p99_ms == pytest.approx(1.25)
    assert result.errors == 7
    assert result.requests == 76543


def _scenarios() -> list[Scenario]:
    throughput = Scenario(
        name="chat, 32 connections",
        kind="throughput",
        cells=[
            Cell(target=DIRECT, rps=100_000, p50_ms=0.2, p99_ms=0.5),
            Cell(target=NGINX, rps=40_000, p50_ms=0.5, p99_ms=1.0),
            Cell(target=WAYPOST, rps=4_000, p50_ms=7.0, p99_ms=9.0, cpu_ms_per_request=0.25, rss_mib=120),
            Cell(target="MLflow AI Gateway", rps=1_000, p50_ms=30.0, p99_ms=50.0),
            Cell(target="LiteLLM proxy", not_run="not installed: make bench-peers"),
        ],
    )
    latency = Scenario(
        name="chat, 1 connection",
        kind="latency",
        cells=[
            Cell(target=DIRECT, rps=10_000, p50_ms=0.1, p99_ms=0.2),
            Cell(target=NGINX, rps=5_000, p50_ms=0.2, p99_ms=0.4),
            Cell(target=WAYPOST, rps=2_000, p50_ms=0.5, p99_ms=1.2),
            Cell(target="MLflow AI Gateway", rps=900, p50_ms=1.1, p99_ms=3.0),
            Cell(target="LiteLLM proxy", not_run="not installed: make bench-peers"),
        ],
    )
    return [throughput, latency]


def test_results_table_shows_added_latency_and_not_run_reasons() -> None:
    table = results_table(_scenarios())
    assert "| chat, 32 connections | waypost data plane | 4,000 | 7.00 | 9.00 | 6.80 | 8.50 | 0 |" in table
    assert "| 0.250 | 120 |" in table
    assert "| chat, 1 connection | LiteLLM proxy | not run (not installed: make bench-peers) |" in table
    header = table.splitlines()[0]
    assert all(row.count("|") == header.count("|") for row in table.splitlines())


def test_ratio_table_compares_throughput_and_added_latency() -> None:
    rows = ratio_table(_scenarios()).splitlines()
    # Waypost / MLflow, / Portkey (absent), / LiteLLM (not run), / nginx
    assert rows[2] == "| chat, 32 connections | req/s (>1: Waypost faster) | 4.00 | - | - | 0.10 |"
    # added p50: Waypost 0.4 ms, MLflow 1.0 ms, nginx 0.1 ms
    assert rows[3] == "| chat, 1 connection | added p50 (<1: Waypost adds less) | 0.40 | - | - | 4.00 |"


def test_summary_lines_report_percentiles_of_propagation() -> None:
    summary = Summary(
        fake_direct={"nginx fake (used)": 120_000.0},
        propagation={"2 data planes, small config": [0.1, 0.2, 0.3]},
        rss_mib={"data plane worker": 61.6},
    )
    text = summary_lines(summary)
    assert "nginx fake (used) 120,000 req/s" in text
    assert "p50 200 ms, p99 300 ms, max 300 ms over 3 changes" in text
    assert "RSS, data plane worker: 62 MiB." in text


def test_chart_is_svg_with_every_target() -> None:
    throughput, latency = _scenarios()
    svg = chart.render(throughput, latency, subtitle="test run")
    root = ET.fromstring(svg)  # noqa: S314 - the SVG this test just rendered
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    for target in (NGINX, WAYPOST, "MLflow AI Gateway", "LiteLLM proxy"):
        assert target in texts
    assert "not run" in texts
    assert "4,000 req/s" in texts
    assert "0.40 ms p50" in texts  # Waypost's added p50 at 1 connection
    bars = list(root.iter("{http://www.w3.org/2000/svg}rect"))
    assert len(bars) == 1 + 4 + 2 * 3  # background, 4 throughput bars, p50+p99 for 3 targets that ran


def test_nginx_fake_config_carries_the_bodies_with_escaped_newlines(tmp_path: Path) -> None:
    config = nginx.fake_config(tmp_path, 8080)
    assert "listen 127.0.0.1:8080" in config
    sse_line = next(line for line in config.splitlines() if "return 200 'data:" in line)
    assert sse_line.count("\\n\\n") == STREAM.count(b"\n\n")
    assert "ssi_types text/event-stream" in config
    with pytest.raises(ValueError, match="quotes"):
        nginx._quoted(b"it's")


def test_percentile_uses_nearest_rank_and_nan_for_nothing() -> None:
    values = [float(v) for v in range(1, 101)]
    assert loadgen.percentile(values, 0.5) == 51.0
    assert loadgen.percentile(values, 0.99) == 100.0
    assert math.isnan(loadgen.percentile([], 0.5))


def test_procstat_samples_this_process_group() -> None:
    sample = procstat.sample(os.getpgrp())
    assert sample.processes >= 1
    assert sample.cpu_seconds > 0
    assert sample.rss_bytes_max > 1024 * 1024


def test_peer_install_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers, "PEERS_DIR", tmp_path)
    assert peers.not_installed_reason("litellm") == "not installed: make bench-peers"
    (tmp_path / "mlflow.failed").write_text("pip exited 1: no matching distribution")
    assert peers.not_installed_reason("mlflow") == "install failed: pip exited 1: no matching distribution"
    server = tmp_path / "portkey" / "node_modules/@portkey-ai/gateway/build/start-server.js"
    server.parent.mkdir(parents=True)
    server.write_text("")
    assert peers.not_installed_reason("portkey") is None


async def test_load_client_measures_a_real_fake_at_a_fixed_rate_and_streams() -> None:
    server = TestServer(make_app(0.0), host="127.0.0.1")
    await server.start_server()
    try:
        base = f"http://127.0.0.1:{server.port}"
        body: dict[str, object] = {"model": "bench", "messages": [{"role": "user", "content": "hi"}]}
        rate = await loadgen.measure(
            loadgen.Spec(
                mode="rate", url=f"{base}/json/v1/chat/completions", body=body, headers={}, seconds=0.5, rate=40
            )
        )
        assert rate.requests == 20
        assert rate.errors == 0
        assert rate.p50_ms is not None
        assert rate.p99_ms is not None
        assert rate.p50_ms <= rate.p99_ms
        streams = await loadgen.measure(
            loadgen.Spec(
                mode="ttfb", url=f"{base}/sse/v1/chat/completions", body=body, headers={}, seconds=0.3, connections=2
            )
        )
        assert streams.requests > 0
        assert streams.errors == 0
        assert streams.ttfb_p50_ms is not None
        assert streams.p50_ms is not None
        assert streams.ttfb_p50_ms <= streams.p50_ms
        missing = await loadgen.measure(
            loadgen.Spec(mode="rate", url=f"{base}/nowhere", body=body, headers={}, seconds=0.2, rate=20)
        )
        assert missing.errors == missing.requests == 4
        assert missing.p50_ms is not None
        assert math.isnan(missing.p50_ms)
    finally:
        await server.close()


def test_a_peer_that_fails_to_start_is_reported_with_the_cause_from_its_log() -> None:
    failure = "litellm exited (code 3):\n\n  banner\nLiteLLM proxy refused to start: no master key is set\nmore"
    assert _why(failure) == "litellm exited (code 3): LiteLLM proxy refused to start: no master key is set"
    assert _why("nginx: /readyz not reached in 20s:\n") == "nginx: /readyz not reached in 20s:"
