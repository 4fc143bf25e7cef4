from __future__ import annotations

import pytest

from bench.profile import markdown, summarize

RAW = """\
<module> (granian:1);run (granian/server/mp.py:10);handler (dataplane/chat.py:5);send (aiohttp/client.py:9) 6
<module> (granian:1);run (granian/server/mp.py:10);handler (dataplane/chat.py:5) 2
<module> (granian:1);run (granian/server/mp.py:10);recurse (dataplane/x.py:1);recurse (dataplane/x.py:1) 2
not a stack line
"""


def test_summarize_ranks_own_and_cumulative_time_and_skips_start_up_frames() -> None:
    profile = summarize(RAW, top=10)
    assert profile.samples == 10
    name, share = profile.own[0]
    assert (name, share) == ("send (aiohttp/client.py:9)", 60.0)
    cumulative = dict(profile.cumulative)
    assert cumulative["handler (dataplane/chat.py:5)"] == pytest.approx(80.0)
    assert cumulative["recurse (dataplane/x.py:1)"] == pytest.approx(20.0)  # counted once per stack
    assert not any(name.startswith(("<module> (granian", "run (granian")) for name in cumulative)
    assert dict(profile.packages) == {"aiohttp": pytest.approx(60.0), "dataplane": pytest.approx(40.0)}


def test_markdown_lists_every_ranked_item() -> None:
    text = markdown(summarize(RAW, top=2), heading="h")
    assert text.startswith("h (10 samples)")
    assert "| 60.0 | `send (aiohttp/client.py:9)` |" in text
