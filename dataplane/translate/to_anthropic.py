"""OpenAI chat request → Anthropic Messages request. Anything Anthropic cannot express is refused with a 400
naming the field, never dropped.

- `system` and `developer` messages → `system` (joined by blank lines, in order).
- `tool` messages → `tool_result` blocks in a user turn; consecutive same-role turns are merged, as Anthropic
  requires alternating roles.
- assistant `tool_calls` → `tool_use` blocks (empty `arguments` → `{}`).
- images: `data:` URLs → base64 sources, http(s) URLs → url sources.
- `max_completion_tokens` or `max_tokens` → `max_tokens` (required by Anthropic; DEFAULT_MAX_TOKENS if unset).
- `stop` → `stop_sequences`; `temperature`, `top_p` as is (Anthropic refuses temperatures above 1 itself);
  `user` → `metadata.user_id`; `parallel_tool_calls: false` → `disable_parallel_tool_use`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from dataplane.anthropic_wire import Block, ImageSource, InputMessage, MessagesRequest, Metadata, Tool, ToolChoice
from dataplane.errors import InvalidParameterError
from dataplane.translate.openai_types import ChatMessage, ChatRequest, ContentPart, NamedToolChoice

DEFAULT_MAX_TOKENS = 4096
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
_TOOL_CHOICES = {"auto": "auto", "required": "any", "none": "none"}
_arguments_decoder = msgspec.json.Decoder(dict[str, Any])
_encoder = msgspec.json.Encoder()


def encode_request(chat: ChatRequest, *, stream: bool) -> bytes:
    return _encoder.encode(anthropic_request(chat, stream=stream))


def anthropic_request(chat: ChatRequest, *, stream: bool) -> MessagesRequest:
    """`model` is left as the client sent it: the adapter replaces it with the deployment's."""
    if chat.n is not None and chat.n != 1:
        raise InvalidParameterError("Anthropic targets return one choice: `n` must be 1.", param="n")
    if chat.response_format is not None and chat.response_format.type != "text":
        raise InvalidParameterError(
            "`response_format` is not supported by Anthropic targets; use a tool to get JSON.", param="response_format"
        )
    system: list[str] = []
    turns: list[InputMessage] = []
    for index, message in enumerate(chat.messages):
        if message.role in ("system", "developer"):
            system.append(_plain_text(message, index))
            continue
        role, blocks = _turn(message, index)
        if not blocks:
            continue
        if turns and turns[-1].role == role:
            previous = turns[-1].content
            assert isinstance(previous, list)
            turns[-1] = InputMessage(role=role, content=[*previous, *blocks])
        else:
            turns.append(InputMessage(role=role, content=blocks))
    if not turns:
        raise InvalidParameterError("At least one user or assistant message is required.", param="messages")
    return MessagesRequest(
        model=chat.model,
        messages=turns,
        max_tokens=_max_tokens(chat),
        system="\n\n".join(system) if system else None,
        stop_sequences=[chat.stop] if isinstance(chat.stop, str) else chat.stop,
        stream=True if stream else None,
        temperature=chat.temperature,
        top_p=chat.top_p,
        tools=[_tool(t.function.name, t.function.description, t.function.parameters) for t in chat.tools or []] or None,
        tool_choice=_tool_choice(chat),
        metadata=Metadata(user_id=chat.user) if chat.user else None,
    )


def _max_tokens(chat: ChatRequest) -> int:
    limit = chat.max_completion_tokens if chat.max_completion_tokens is not None else chat.max_tokens
    return DEFAULT_MAX_TOKENS if limit is None or limit <= 0 else limit


def _tool(name: str, description: str | None, parameters: dict[str, Any] | None) -> Tool:
    return Tool(name=name, description=description, input_schema=parameters or _EMPTY_SCHEMA)


def _tool_choice(chat: ChatRequest) -> ToolChoice | None:
    choice = chat.tool_choice
    no_parallel = True if chat.parallel_tool_calls is False else None
    if isinstance(choice, NamedToolChoice):
        return ToolChoice(type="tool", name=choice.function.name, disable_parallel_tool_use=no_parallel)
    if choice is None:
        return ToolChoice(type="auto", disable_parallel_tool_use=True) if no_parallel and chat.tools else None
    if choice not in _TOOL_CHOICES:
        raise InvalidParameterError(f"Unknown tool_choice {choice!r}.", param="tool_choice")
    kind = _TOOL_CHOICES[choice]
    return ToolChoice(type=kind, disable_parallel_tool_use=no_parallel if kind != "none" else None)


def _turn(message: ChatMessage, index: int) -> tuple[str, list[Block]]:
    if message.role == "user":
        return "user", _content_blocks(message.content, f"messages[{index}].content")
    if message.role == "assistant":
        blocks = _content_blocks(message.content, f"messages[{index}].content")
        for number, call in enumerate(message.tool_calls or []):
            arguments = _arguments(call.function.arguments, f"messages[{index}].tool_calls[{number}].function")
            blocks.append(Block(type="tool_use", id=call.id, name=call.function.name, input=arguments))
        return "assistant", blocks
    if message.role == "tool":
        if not message.tool_call_id:
            raise InvalidParameterError("A tool message needs `tool_call_id`.", param=f"messages[{index}]")
        content = _content_blocks(message.content, f"messages[{index}].content")
        result = Block(type="tool_result", tool_use_id=message.tool_call_id, content=content or "")
        return "user", [result]
    raise InvalidParameterError(f"Unsupported role {message.role!r}.", param=f"messages[{index}].role")


def _content_blocks(content: str | list[ContentPart] | None, param: str) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return [Block(type="text", text=content)] if content else []
    blocks = []
    for number, part in enumerate(content):
        if part.type == "text":
            if part.text:
                blocks.append(Block(type="text", text=part.text))
        elif part.type == "image_url" and part.image_url is not None:
            blocks.append(Block(type="image", source=image_source(part.image_url.url, f"{param}[{number}]")))
        else:
            raise InvalidParameterError(
                f"Content parts of type {part.type!r} are not supported by Anthropic targets.",
                param=f"{param}[{number}]",
            )
    return blocks


def image_source(url: str, param: str) -> ImageSource:
    """`data:<media type>;base64,<data>` → a base64 source; an http(s) URL → a url source."""
    if url.startswith("data:"):
        header, separator, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not separator or encoding != "base64" or not media_type:
            raise InvalidParameterError("Image data URLs must be `data:<media type>;base64,<data>`.", param=param)
        return ImageSource(type="base64", media_type=media_type, data=data)
    if url.startswith(("https://", "http://")):
        return ImageSource(type="url", url=url)
    raise InvalidParameterError("Image URLs must be http(s) or base64 data URLs.", param=param)


def _arguments(arguments: str, param: str) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        return _arguments_decoder.decode(arguments)
    except msgspec.DecodeError:
        raise InvalidParameterError("Tool call arguments must be a JSON object.", param=f"{param}.arguments") from None


def _plain_text(message: ChatMessage, index: int) -> str:
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for number, part in enumerate(content):
        if part.type != "text":
            raise InvalidParameterError(
                "System messages may only hold text.", param=f"messages[{index}].content[{number}]"
            )
        texts.append(part.text or "")
    return "\n".join(texts)
