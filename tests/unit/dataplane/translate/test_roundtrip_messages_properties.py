"""The other direction of test_roundtrip_properties: an Anthropic Messages request → an OpenAI chat request (what
/v1/messages sends to every target that is not Anthropic) → an Anthropic request again loses nothing both
protocols can express.

Covered, and so generated: a system prompt (text blocks arrive joined by blank lines, as one string); alternating
user and assistant turns; user text and images (base64 and URL sources); assistant text then tool calls (ids,
names, inputs); tool results as text, before the rest of their user turn; tools (an absent input schema arrives
as the empty object schema); tool_choice auto / any / none / a named tool, and `disable_parallel_tool_use`; stop
sequences; temperature, top_p, max_tokens; `metadata.user_id`. Normalised: texts are compared joined per turn
(an assistant's text blocks arrive as one), string content as one text block, and a tool result's text blocks as
one joined by newlines. Not covered, so not generated: thinking blocks (not replayed to other providers),
`cache_control`, `top_k` and server tools (refused), structured output (OpenAI's `response_format` is refused
on the way back to Anthropic)."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from dataplane.anthropic_wire import MessagesRequest
from dataplane.translate import to_anthropic, to_openai
from dataplane.translate.openai_types import ChatRequest

PROPERTIES = settings(max_examples=150, deadline=None)
EMPTY_SCHEMA = {"type": "object", "properties": {}}

texts = st.text(min_size=1, max_size=30)
names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
ids = st.from_regex(r"toolu_[a-zA-Z0-9]{1,12}", fullmatch=True)
scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts
inputs = st.dictionaries(
    names,
    st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3)),
    max_size=4,
)
text_blocks = st.builds(lambda text: {"type": "text", "text": text}, texts)
image_blocks = st.builds(
    lambda media, data: {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}},
    st.sampled_from(["image/png", "image/jpeg", "image/webp", "image/gif"]),
    st.from_regex(r"[A-Za-z0-9+/]{4,40}={0,2}", fullmatch=True),
) | st.builds(
    lambda url: {"type": "image", "source": {"type": "url", "url": url}}, st.just("https://example.com/a.png")
)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """User turns (tool results first, then text and images) alternating with assistant turns (text, then calls)."""
    messages: list[dict[str, Any]] = []
    pending: list[str] = []  # ids of the calls the next user turn answers
    for _ in range(draw(st.integers(1, 3))):
        results = [
            {
                "type": "tool_result",
                "tool_use_id": i,
                "content": draw(st.text(max_size=20) | st.lists(text_blocks, max_size=2)),
            }
            for i in pending
        ]
        parts = draw(st.lists(text_blocks | image_blocks, min_size=0 if results else 1, max_size=3))
        if not results and len(parts) == 1 and parts[0]["type"] == "text" and draw(st.booleans()):
            messages.append({"role": "user", "content": parts[0]["text"]})
        else:
            messages.append({"role": "user", "content": [*results, *parts]})
        calls = draw(st.lists(st.tuples(ids, names, inputs), max_size=3, unique_by=lambda call: call[0]))
        said = draw(st.lists(text_blocks, min_size=0 if calls else 1, max_size=2))
        uses = [{"type": "tool_use", "id": i, "name": n, "input": value} for i, n, value in calls]
        messages.append({"role": "assistant", "content": [*said, *uses]})
        pending = [i for i, _, _ in calls]
    answer_last = draw(st.booleans())
    if pending or answer_last:
        answers = [{"type": "tool_result", "tool_use_id": i, "content": draw(st.text(max_size=20))} for i in pending]
        messages.append({"role": "user", "content": [*answers, *draw(st.lists(text_blocks, min_size=1, max_size=2))]})
    return messages


@st.composite
def messages_requests(draw: st.DrawFn) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": draw(names),
        "max_tokens": draw(st.integers(1, 100_000)),
        "messages": draw(conversations()),
    }
    if draw(st.booleans()):
        request["system"] = draw(texts | st.lists(text_blocks, min_size=1, max_size=2))
    if draw(st.booleans()):
        tools = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"name": names}, optional={"description": texts, "input_schema": st.just(EMPTY_SCHEMA)}
                ),
                min_size=1,
                max_size=3,
                unique_by=lambda tool: str(tool["name"]),
            )
        )
        request["tools"] = tools
        choice = draw(st.sampled_from([None, "auto", "any", "none", "tool"]))
        if choice is not None:
            request["tool_choice"] = {"type": choice}
            if choice == "tool":
                request["tool_choice"]["name"] = draw(st.sampled_from([tool["name"] for tool in tools]))
            if choice != "none" and draw(st.booleans()):
                request["tool_choice"]["disable_parallel_tool_use"] = True
    optional = {
        "stop_sequences": st.lists(texts, min_size=1, max_size=4),
        "temperature": st.floats(0, 1, allow_nan=False),
        "top_p": st.floats(0, 1, allow_nan=False),
        "metadata": st.builds(lambda user: {"user_id": user}, texts),
    }
    for name, values in optional.items():
        if draw(st.booleans()):
            request[name] = draw(values)
    return request


def _text_of(blocks: list[Any]) -> str:
    return "".join(block["text"] for block in blocks if block["type"] == "text")


def covered(request: dict[str, Any]) -> dict[str, Any]:
    """The request as both protocols can express it, with the documented normalisations applied."""
    decoded: dict[str, Any] = msgspec.to_builtins(
        msgspec.json.decode(msgspec.json.encode(request), type=MessagesRequest)
    )
    system = decoded.get("system")
    if isinstance(system, list):
        system = "\n\n".join(block.get("text", "") for block in system)
    turns: list[tuple[Any, ...]] = []
    for message in decoded["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if message["role"] == "assistant":
            said = _text_of(blocks)
            uses = [(b["id"], b["name"], b.get("input") or {}) for b in blocks if b["type"] == "tool_use"]
            turns.append(("assistant", said or None, uses))
            continue
        results = []
        for block in blocks:
            if block["type"] == "tool_result":
                answer = block.get("content") or ""
                results.append(
                    (
                        block["tool_use_id"],
                        answer if isinstance(answer, str) else "\n".join(part["text"] for part in answer),
                    )
                )
        others = [block for block in blocks if block["type"] != "tool_result"]
        turns.append(("user", results, others))
    choice = decoded.get("tool_choice")
    return {
        "model": decoded["model"],
        "max_tokens": decoded["max_tokens"],
        "system": system or None,
        "messages": turns,
        "tools": [
            (t["name"], t.get("description"), t.get("input_schema") or EMPTY_SCHEMA) for t in decoded.get("tools") or []
        ],
        "tool_choice": choice,
        "stop_sequences": decoded.get("stop_sequences"),
        "temperature": decoded.get("temperature"),
        "top_p": decoded.get("top_p"),
        "user": (decoded.get("metadata") or {}).get("user_id"),
    }


@PROPERTIES
@given(messages_requests())
def test_a_messages_request_survives_the_round_trip_through_a_chat_request(request: dict[str, Any]) -> None:
    anthropic = msgspec.json.decode(msgspec.json.encode(request), type=MessagesRequest)
    chat = msgspec.json.decode(to_openai.encode_request(anthropic), type=ChatRequest)
    back = msgspec.json.decode(to_anthropic.encode_request(chat, stream=False), type=MessagesRequest)
    assert covered(msgspec.to_builtins(back)) == covered(request)
