"""Round-trip properties of the translations: OpenAI → canonical → OpenAI loses nothing the canonical form covers.

The canonical form. dataplane/translate has no third, internal model: it translates between two wire protocols,
and the Anthropic Messages types of dataplane.anthropic_wire (`MessagesRequest`, `Message`, `StreamEvent`) are
the one form every OpenAI request, answer and stream can be turned into and back from (to_anthropic/from_openai
for requests, from_openai/from_anthropic for answers and streams). So canonical = Anthropic Messages here, and
each property goes OpenAI → bytes → Anthropic → bytes → OpenAI through the real encoders and decoders.

What the canonical form covers, and so what must survive: the model; system prompts (several leading system
messages arrive as one, joined by blank lines); user text and images (http(s) URLs and base64 data URLs);
assistant text and tool calls (ids, names, arguments as JSON: empty arguments arrive as `{}`); tool results as
text; tools (name, description, parameters: none arrive as the empty object schema); tool_choice and
`parallel_tool_calls: false`; stop sequences (a string arrives as a one-item list); temperature, top_p and the
token limit (`max_completion_tokens` preferred; absent → the Anthropic default); `user`. Answers: text, tool
calls, the finish reason (stop, length, tool_calls, content_filter), prompt, cached and completion tokens; the
same assembled from a stream.

Not covered, and therefore not generated: message `name`, image `detail`, `n` and `response_format` (refused by
the Anthropic side), refusals, and reasoning token counts (Anthropic reports none)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from dataplane.anthropic_wire import MessagesRequest
from dataplane.translate import from_anthropic, from_openai, to_anthropic, to_openai
from dataplane.translate.openai_types import ChatCompletion, ChatRequest
from dataplane.translate.sse import SseParser

PROPERTIES = settings(max_examples=150, deadline=None)
EMPTY_SCHEMA = {"type": "object", "properties": {}}

texts = st.text(min_size=1, max_size=30)
names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
ids = st.from_regex(r"call_[a-zA-Z0-9]{1,12}", fullmatch=True)
scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3), max_leaves=8
)
arguments = st.dictionaries(names, json_values, max_size=4)


@st.composite
def argument_text(draw: st.DrawFn) -> str:
    """A tool call's `arguments`: JSON of an object, spaced either way, or empty for a call without arguments."""
    value = draw(arguments)
    if not value and draw(st.booleans()):
        return ""
    return json.dumps(value, separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))


image_urls = st.sampled_from(["https://example.com/cat.png", "http://example.com/a b.jpg"]) | st.builds(
    lambda media, data: f"data:{media};base64,{data}",
    st.sampled_from(["image/png", "image/jpeg", "image/webp", "image/gif"]),
    st.from_regex(r"[A-Za-z0-9+/]{4,40}={0,2}", fullmatch=True),
)
user_parts = st.lists(
    st.builds(lambda text: {"type": "text", "text": text}, texts)
    | st.builds(lambda url: {"type": "image_url", "image_url": {"url": url}}, image_urls),
    min_size=1,
    max_size=3,
)
tool_calls = st.lists(
    st.builds(
        lambda i, name, args: {"id": i, "type": "function", "function": {"name": name, "arguments": args}},
        ids,
        names,
        argument_text(),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda call: call["id"],
)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """System prompts, then turns as a client sends them: a user message, the assistant's text and/or tool calls,
    a tool message answering each call, and so on."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": t} for t in draw(st.lists(texts, max_size=2))]
    for _ in range(draw(st.integers(1, 3))):
        content = draw(texts | user_parts)
        messages.append({"role": "user", "content": content})
        calls = draw(st.none() | tool_calls)
        text = draw(st.none() | texts) if calls else draw(texts)
        assistant: dict[str, Any] = {"role": "assistant", "content": text}
        if calls:
            assistant["tool_calls"] = calls
        messages.append(assistant)
        for call in calls or []:
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": draw(st.text(max_size=30))})
    if draw(st.booleans()):
        messages.append({"role": "user", "content": draw(texts)})
    return messages


tool_defs = st.lists(
    st.fixed_dictionaries(
        {"name": names},
        optional={
            "description": texts,
            "parameters": st.builds(
                lambda props: {"type": "object", "properties": props},
                st.dictionaries(names, st.just({"type": "string"}), max_size=3),
            ),
        },
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda tool: str(tool["name"]),
)


@st.composite
def chat_requests(draw: st.DrawFn) -> dict[str, Any]:
    request: dict[str, Any] = {"model": draw(names), "messages": draw(conversations())}
    if draw(st.booleans()):
        tools = draw(tool_defs)
        request["tools"] = [{"type": "function", "function": tool} for tool in tools]
        choices = st.sampled_from(["auto", "required", "none"]) | st.sampled_from(tools).map(
            lambda tool: {"type": "function", "function": {"name": tool["name"]}}
        )
        if draw(st.booleans()):
            request["tool_choice"] = draw(choices)
        if draw(st.booleans()):
            request["parallel_tool_calls"] = draw(st.booleans())
    optional = {
        "temperature": st.floats(0, 2, allow_nan=False),
        "top_p": st.floats(0, 1, allow_nan=False),
        "max_tokens": st.integers(1, 100_000),
        "max_completion_tokens": st.integers(1, 100_000),
        "stop": texts | st.lists(texts, min_size=1, max_size=4),
        "user": texts,
    }
    for name, values in optional.items():
        if draw(st.booleans()):
            request[name] = draw(values)
    return request


def covered_request(request: dict[str, Any]) -> dict[str, Any]:
    """The request as the canonical form covers it, with the documented normalisations applied."""
    chat = msgspec.json.decode(msgspec.json.encode(request), type=ChatRequest)
    system = [str(m.content) for m in chat.messages if m.role == "system"]
    messages: list[dict[str, Any]] = [{"role": "system", "content": "\n\n".join(system)}] if system else []
    for message in chat.messages:
        if message.role == "user":
            parts = (
                [{"type": "text", "text": message.content}]
                if isinstance(message.content, str)
                else [msgspec.to_builtins(part) for part in message.content or []]
            )
            if messages and messages[-1]["role"] == "user":  # Anthropic merges same-role turns
                messages[-1]["content"].extend(parts)
            else:
                messages.append({"role": "user", "content": parts})
        elif message.role == "assistant":
            calls = [
                (c.id, c.function.name, json.loads(c.function.arguments or "{}")) for c in message.tool_calls or []
            ]
            messages.append({"role": "assistant", "content": message.content or None, "tool_calls": calls})
        elif message.role == "tool":
            messages.append({"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content})
    tools = [(t.function.name, t.function.description, t.function.parameters or EMPTY_SCHEMA) for t in chat.tools or []]
    choice = msgspec.to_builtins(chat.tool_choice)
    no_parallel = chat.parallel_tool_calls is False and bool(tools)
    if choice is None and no_parallel:
        choice = "auto"  # Anthropic carries "no parallel calls" on a tool_choice, "auto" unless one was given
    limit = chat.max_completion_tokens if chat.max_completion_tokens is not None else chat.max_tokens
    return {
        "model": chat.model,
        "messages": messages,
        "tools": tools,
        "tool_choice": choice,
        "parallel_tool_calls": False if no_parallel and choice != "none" else None,
        "stop": [chat.stop] if isinstance(chat.stop, str) else chat.stop,
        "temperature": chat.temperature,
        "top_p": chat.top_p,
        "max_tokens": limit if limit is not None else to_anthropic.DEFAULT_MAX_TOKENS,
        "user": chat.user,
    }


@PROPERTIES
@given(chat_requests())
def test_a_chat_request_survives_the_round_trip_through_an_anthropic_request(request: dict[str, Any]) -> None:
    chat = msgspec.json.decode(msgspec.json.encode(request), type=ChatRequest)
    anthropic = msgspec.json.decode(to_anthropic.encode_request(chat, stream=False), type=MessagesRequest)
    back = msgspec.json.decode(to_openai.encode_request(anthropic), type=ChatRequest)
    assert covered_request(msgspec.to_builtins(back)) == covered_request(request)
    assert back.stream is None and back.stream_options is None


@PROPERTIES
@given(chat_requests())
def test_a_streamed_request_asks_for_usage_after_the_round_trip(request: dict[str, Any]) -> None:
    chat = msgspec.json.decode(msgspec.json.encode({**request, "stream": True}), type=ChatRequest)
    anthropic = msgspec.json.decode(to_anthropic.encode_request(chat, stream=True), type=MessagesRequest)
    back = msgspec.json.decode(to_openai.encode_request(anthropic), type=ChatRequest)
    assert back.stream is True and back.stream_options is not None and back.stream_options.include_usage
    assert covered_request(msgspec.to_builtins(back)) == covered_request(request)


finish_reasons = st.sampled_from(["stop", "length", "tool_calls", "content_filter"])


@st.composite
def usages(draw: st.DrawFn) -> dict[str, Any]:
    prompt, completion = draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if draw(st.booleans()):
        usage["prompt_tokens_details"] = {"cached_tokens": draw(st.integers(0, prompt))}
    return usage


@st.composite
def completions(draw: st.DrawFn) -> dict[str, Any]:
    calls = draw(st.none() | tool_calls)
    message: dict[str, Any] = {"role": "assistant", "content": draw(st.none() | texts) if calls else draw(texts)}
    if calls:
        message["tool_calls"] = calls
    choice = {"index": 0, "message": message, "finish_reason": draw(finish_reasons)}
    completion = {"id": draw(ids), "object": "chat.completion", "created": 1, "model": draw(names), "choices": [choice]}
    if draw(st.booleans()):
        completion["usage"] = draw(usages())
    return completion


def covered_answer(
    text: str | None, calls: list[tuple[str, str, str]], reason: str | None, usage: Any
) -> tuple[Any, ...]:
    cached = 0
    if usage is not None:
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        usage = (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"], cached)
    return text or None, [(i, n, json.loads(a or "{}")) for i, n, a in calls], reason, usage


@PROPERTIES
@given(completions())
def test_a_completion_survives_the_round_trip_through_an_anthropic_message(completion: dict[str, Any]) -> None:
    body = msgspec.json.encode(completion)
    message = from_openai.anthropic_message(from_openai.decode_completion(body))
    back = msgspec.json.decode(from_anthropic.encode(from_anthropic.openai_completion(message, created=1)))
    assert (back["id"], back["model"]) == (completion["id"], completion["model"])
    [choice], [original] = back["choices"], completion["choices"]
    assert choice["provider_finish_reason"] == message.stop_reason  # the Anthropic value it came from
    calls = [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in choice["message"].get("tool_calls") or []
    ]
    sent = [
        (c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in original["message"].get("tool_calls") or []
    ]
    assert covered_answer(
        choice["message"]["content"], calls, choice["finish_reason"], back["usage"]
    ) == covered_answer(original["message"]["content"], sent, original["finish_reason"], completion.get("usage"))
    msgspec.json.decode(msgspec.json.encode(back), type=ChatCompletion)  # still a valid completion


def pieces(draw: st.DrawFn, text: str) -> list[str]:
    """`text` cut into the deltas a provider might stream."""
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=3))) if len(text) > 1 else []
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if text[a:b]]


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """An OpenAI chunk stream (role chunk, text deltas, tool calls one after the other with their arguments in
    pieces, the finish chunk, the usage chunk) and the completion it assembles into."""
    answer = draw(completions().filter(lambda c: "usage" in c))
    message = answer["choices"][0]["message"]
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": piece} for piece in pieces(draw, message["content"] or "")]
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        deltas.append(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": function["name"], "arguments": ""},
                    }
                ]
            }
        )
        for piece in pieces(draw, function["arguments"]):
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    head = {"id": answer["id"], "object": "chat.completion.chunk", "created": 1, "model": answer["model"]}
    chunks = [{**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]} for delta in deltas]
    chunks.append(
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": answer["choices"][0]["finish_reason"]}]}
    )
    chunks.append({**head, "choices": [], "usage": answer["usage"]})
    return chunks, answer


def assemble(payloads: list[Any]) -> tuple[Any, ...]:
    """What an SDK assembles from chat chunks: text, tool calls by index, the finish reason, the usage."""
    text, reason, usage = "", None, None
    calls: dict[int, list[str]] = {}
    for chunk in payloads:
        if chunk == "[DONE]":
            continue
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            text += choice["delta"].get("content") or ""
            reason = choice.get("finish_reason") or reason
            for call in choice["delta"].get("tool_calls") or []:
                entry = calls.setdefault(call["index"], ["", "", ""])
                entry[0] = call.get("id") or entry[0]
                entry[1] = (call.get("function") or {}).get("name") or entry[1]
                entry[2] += (call.get("function") or {}).get("arguments") or ""
    return covered_answer(text, [(c[0], c[1], c[2]) for _, c in sorted(calls.items())], reason, usage)


@PROPERTIES
@given(streams(), st.integers(1, 64))
def test_a_stream_survives_the_round_trip_through_anthropic_events(
    stream: tuple[list[dict[str, Any]], dict[str, Any]], split: int
) -> None:
    chunks, answer = stream
    wire = b"".join(b"data: " + msgspec.json.encode(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    to_claude = from_openai.StreamTranslator()
    events = [e for i in range(0, len(wire), split) for e in to_claude.feed(wire[i : i + split])] + to_claude.end()
    to_chat = from_anthropic.StreamTranslator(created=1, include_usage=True)
    back = [out for event in events for out in to_chat.feed(event)] + to_chat.end()
    # the gateway's own SSE parser: a line ends at LF or CRLF only, whatever Unicode calls a line break
    payloads: list[Any] = [
        e.data.decode() if e.data == b"[DONE]" else msgspec.json.decode(e.data)
        for e in SseParser().feed(b"".join(back))
    ]
    assert payloads[-1] == "[DONE]"
    assert {(p["id"], p["model"]) for p in payloads[:-1]} == {(answer["id"], answer["model"])}
    message = answer["choices"][0]["message"]
    sent = [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or []]
    assert assemble(payloads) == covered_answer(
        message["content"], sent, answer["choices"][0]["finish_reason"], answer["usage"]
    )
    assert to_chat.usage == to_claude.usage  # both sides account the same tokens
