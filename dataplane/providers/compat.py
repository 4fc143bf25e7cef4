"""The OpenAI-compatible family (`shared.snapshot.OPENAI_COMPATIBLE_KINDS`): OpenAI's chat-completions protocol
served by other providers, each with a few documented differences. `QUIRKS` is the one table of them; the rest of
this module applies it on the same-protocol fast path (the client's JSON forwarded with `model` replaced). Pure: no
I/O, no logging.

What the table covers, per kind, each from the provider's own documentation (sources in `CompatQuirks.source`):
- the default base URL (the control plane fills it in when a provider is created without one; `vllm` and
  `openai_compatible` have none: their base URL is required);
- auth: the key as `Authorization: Bearer`; Ollama and vLLM need none, so no credentials means no header;
- streamed usage: whether `stream_options.include_usage` may be sent (Mistral's schema forbids unknown fields and
  reports usage on its last chunk anyway); wherever the usage arrives (a usage-only chunk, the last chunk, Groq's
  `x_groq.usage`), `dataplane.usage_extract` finds it;
- usage classes: xAI counts reasoning tokens apart from `completion_tokens`; DeepSeek's `prompt_cache_hit_tokens`
  is cached input (read in `dataplane.usage_extract`);
- request fields: renamed where the provider documents only the other name (`max_completion_tokens` → `max_tokens`,
  `seed` → `random_seed`), refused with a 400 where the provider documents that it rejects them (Groq), or where
  its request schema has no room for them (DeepSeek: image parts, `response_format` other than text/json_object);
- errors: bodies in other shapes (Mistral's and vLLM's flat `{"object": "error", ...}`, xAI's `{"code", "error"}`)
  are relayed as OpenAI error JSON; Groq's 498 (flex capacity) is a retryable 503; DeepSeek's and OpenRouter's
  402 (the gateway's account is out of credit) and OpenRouter's 403 moderation refusal are classified apart."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import msgspec

from dataplane.errors import (
    GatewayError,
    InvalidRequestError,
    UpstreamAuthError,
    UpstreamRelayedError,
    UpstreamStatusError,
)
from dataplane.providers.openai import chat_completions_url, with_include_usage
from dataplane.routing import Target
from dataplane.upstream import UpstreamRequest


class CompatQuirks(msgspec.Struct, frozen=True, kw_only=True):
    """How one kind differs from OpenAI's chat completions. The defaults are OpenAI's behaviour."""

    source: str  # the documentation the entries come from
    auth_optional: bool = False  # the server needs no key (no credentials: no Authorization header)
    send_stream_options: bool = True  # False: never send stream_options (the provider rejects it)
    usage_placement: str = "usage-only chunk"  # where a stream's usage arrives (documentation, README)
    renamed_fields: tuple[tuple[str, str], ...] = ()  # (OpenAI name, the provider's name)
    refused_fields: frozenset[str] = frozenset()  # top-level fields the provider answers with a 400
    single_choice: bool = False  # `n` other than 1 is refused
    refuses_message_names: bool = False  # `messages[].name` is refused
    text_only: bool = False  # message content parts other than text (images, audio, files) are refused
    response_formats: frozenset[str] | None = None  # the `response_format.type`s taken (None: any)
    reasoning_in_completion: bool = True  # False: reasoning tokens are not part of completion_tokens
    status_aliases: tuple[tuple[int, int], ...] = ()  # provider status → the status it means
    credit_status: int | None = None  # the status meaning "the gateway's account is out of credit"
    moderation_403: bool = False  # a 403 with moderation metadata is a content refusal, not our key


_OPENAI = CompatQuirks(source="https://platform.openai.com/docs/api-reference/chat")

QUIRKS: Mapping[str, CompatQuirks] = MappingProxyType(
    {
        "openai_compatible": _OPENAI,
        "mistral": CompatQuirks(
            source="https://docs.mistral.ai/api/ (client-python ChatCompletionRequest; unknown fields answer 422)",
            send_stream_options=False,
            usage_placement="last chunk (with finish_reason)",
            renamed_fields=(("max_completion_tokens", "max_tokens"), ("seed", "random_seed")),
        ),
        "groq": CompatQuirks(
            source="https://console.groq.com/docs/openai, https://console.groq.com/docs/errors",
            usage_placement="last chunk's x_groq.usage (and usage with include_usage)",
            refused_fields=frozenset({"logprobs", "logit_bias", "top_logprobs"}),
            single_choice=True,
            refuses_message_names=True,
            status_aliases=((498, 503),),
        ),
        "together": CompatQuirks(
            source="https://docs.together.ai/docs/error-codes (stream usage: last chunk, include_usage honoured)",
            usage_placement="last chunk",
        ),
        "deepseek": CompatQuirks(
            source="https://api-docs.deepseek.com/quick_start/error_codes (usage: prompt_cache_hit/miss_tokens)",
            renamed_fields=(("max_completion_tokens", "max_tokens"),),
            credit_status=402,
            # its chat API documents string message content and response_format types text and json_object only
            text_only=True,
            response_formats=frozenset({"text", "json_object"}),
        ),
        "xai": CompatQuirks(
            source="https://docs.cloud.google.com/vertex-ai/generative-ai/docs/partner-models/grok/capabilities/reasoning",
            reasoning_in_completion=False,
        ),
        "fireworks": CompatQuirks(
            source="https://docs.fireworks.ai/tools-sdks/openai-compatibility",
            usage_placement="last chunk (with finish_reason)",
        ),
        "openrouter": CompatQuirks(
            source="https://openrouter.ai/docs/api/reference/errors-and-debugging, .../use-cases/usage-accounting",
            usage_placement="last chunk (always; include_usage has no effect)",
            credit_status=402,
            moderation_403=True,
        ),
        "ollama": CompatQuirks(
            source="https://docs.ollama.com/api/openai-compatibility",
            auth_optional=True,
            renamed_fields=(("max_completion_tokens", "max_tokens"),),
        ),
        "vllm": CompatQuirks(
            source="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
            auth_optional=True,
        ),
    }
)


def quirks_of(kind: str) -> CompatQuirks:
    """The kind's quirks; OpenAI's behaviour for a kind outside the family."""
    return QUIRKS.get(kind, _OPENAI)


class UnsupportedParameterError(InvalidRequestError):
    """A request field the target's provider documents as refused: a 400 naming it, before any upstream call."""

    code = "unsupported_parameter"


class UpstreamCreditError(UpstreamAuthError):
    """The provider refused because the gateway's account there is out of credit (402): not the client's fault."""

    code = "upstream_insufficient_credit"
    default_message = "The upstream provider refused the request: the gateway's account there is out of credit."


_fields_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_encoder = msgspec.json.Encoder()
_NULL = b"null"
CONTENT_FILTER = "content_filter"  # dataplane.retry: a content-policy refusal, another provider may differ


class _NamedMessage(msgspec.Struct, frozen=True):
    name: msgspec.Raw = msgspec.Raw(b"")


_messages_decoder = msgspec.json.Decoder(list[_NamedMessage])


class _Part(msgspec.Struct, frozen=True):
    type: str = ""


class _PartsMessage(msgspec.Struct, frozen=True):
    content: str | list[_Part] | None = None


class _ResponseFormat(msgspec.Struct, frozen=True):
    type: str = ""


_parts_decoder = msgspec.json.Decoder(list[_PartsMessage])
_format_decoder = msgspec.json.Decoder(_ResponseFormat)


def _given(value: msgspec.Raw | None) -> bool:
    return value is not None and bytes(value) != _NULL


def _refuse(kind: str, param: str, what: str) -> UnsupportedParameterError:
    return UnsupportedParameterError(
        f"The provider of this model ({kind}) does not support {what}; remove it or use another model.", param=param
    )


def _check_refused(kind: str, quirks: CompatQuirks, fields: dict[str, msgspec.Raw]) -> None:
    for name in sorted(quirks.refused_fields):
        if _given(fields.get(name)):
            raise _refuse(kind, name, f"`{name}`")
    n = fields.get("n")
    if quirks.single_choice and n is not None and bytes(n).strip() not in (b"1", _NULL):
        raise _refuse(kind, "n", "`n` other than 1")
    messages = fields.get("messages")
    if quirks.refuses_message_names and messages is not None:
        try:
            decoded = _messages_decoder.decode(messages)
        except msgspec.DecodeError:
            return  # validated before (dataplane.body); anything else is the provider's to judge
        for index, message in enumerate(decoded):
            if len(message.name) and bytes(message.name) != _NULL:
                raise _refuse(kind, f"messages[{index}].name", "`name` on messages")


def _check_content(kind: str, quirks: CompatQuirks, fields: dict[str, msgspec.Raw]) -> None:
    """Refuse the content parts and response formats the provider does not take: never silently dropped."""
    messages = fields.get("messages")
    if quirks.text_only and messages is not None:
        try:
            decoded = _parts_decoder.decode(messages)
        except msgspec.DecodeError:
            decoded = []  # validated before (dataplane.body); anything else is the provider's to judge
        for index, message in enumerate(decoded):
            for number, part in enumerate(message.content if isinstance(message.content, list) else []):
                if part.type != "text":
                    raise _refuse(kind, f"messages[{index}].content[{number}]", f"`{part.type}` content parts")
    response_format = fields.get("response_format")
    if quirks.response_formats is not None and response_format is not None and _given(response_format):
        try:
            format_type = _format_decoder.decode(response_format).type
        except msgspec.DecodeError:
            return
        if format_type not in quirks.response_formats:
            raise _refuse(kind, "response_format.type", f"`response_format` of type `{format_type}`")


def encode_body(kind: str, body: bytes, model: str, *, include_usage: bool = False) -> bytes:
    """The client's JSON object for the kind's provider: `model` replaced, documented renames applied, refused
    fields refused (UnsupportedParameterError), `stream_options.include_usage` set when asked and allowed (a
    provider that rejects `stream_options` never gets one). Every other value is re-emitted exactly as received."""
    quirks = quirks_of(kind)
    fields = _fields_decoder.decode(body)
    _check_refused(kind, quirks, fields)
    _check_content(kind, quirks, fields)
    for openai_name, provider_name in quirks.renamed_fields:
        if openai_name not in fields:
            continue
        if provider_name in fields:
            raise UnsupportedParameterError(
                f"Send `{provider_name}` or `{openai_name}`, not both: the provider of this model ({kind}) "
                f"knows only `{provider_name}`.",
                param=openai_name,
            )
        fields[provider_name] = fields.pop(openai_name)
    fields["model"] = msgspec.Raw(_encoder.encode(model))
    if not quirks.send_stream_options:
        fields.pop("stream_options", None)  # the provider reports a stream's usage without being asked
    elif include_usage:
        fields["stream_options"] = with_include_usage(fields.get("stream_options"))
    return _encoder.encode(fields)


def build_chat_request(
    body: bytes,
    *,
    target: Target,
    stream: bool,
    timeout_seconds: float | None = None,
    connect_timeout_seconds: float = 5.0,
    include_usage: bool = False,
) -> UpstreamRequest:
    """The upstream call for a validated client body (same arguments as dataplane.providers.openai's)."""
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
    }
    if target.credentials.api_key:
        headers["authorization"] = f"Bearer {target.credentials.api_key}"
    return UpstreamRequest(
        url=chat_completions_url(target.provider.base_url),
        headers=headers,
        body=encode_body(target.provider.kind, body, target.deployment.model, include_usage=include_usage),
        timeout_seconds=target.deployment.timeout_seconds if timeout_seconds is None else timeout_seconds,
        connect_timeout_seconds=connect_timeout_seconds,
    )


def _error_type(status: int) -> str:
    return "invalid_request_error" if status < 500 else "server_error"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def _code(value: Any) -> str | None:
    return None if value is None or isinstance(value, dict | list) else str(value)


def _relayed(status: int, body: bytes, payload: dict[str, Any], *, code: str | None = None) -> tuple[bytes, str | None]:
    """The error as OpenAI error JSON (compact) and its code. OpenAI's own shape is relayed whole (extra fields
    such as OpenRouter's `metadata` survive); the other documented shapes are rewritten into it."""
    error = payload.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):  # OpenAI's shape (Groq, Together, ...)
        if code is None:
            return msgspec.json.format(body, indent=0), _code(error.get("code"))
        detail = {**error, "code": code}
    elif isinstance(error, str):  # xAI: {"code": "...", "error": "..."}
        detail = {"message": error, "type": _error_type(status), "param": None, "code": _code(payload.get("code"))}
    elif "message" in payload:  # Mistral, older vLLM: {"object": "error", "message", "type", "param", "code"}
        kind, param = payload.get("type"), payload.get("param")
        detail = {
            "message": _text(payload["message"]),
            "type": kind if isinstance(kind, str) else _error_type(status),
            "param": param if isinstance(param, str) else None,
            "code": _code(payload.get("code")),
        }
    else:  # no error object we know (FastAPI's {"detail": ...} in front of a server, HTML, nothing)
        raise LookupError
    if code is not None:
        detail["code"] = code
    return _encoder.encode({"error": detail}), detail["code"]


def _is_moderation(payload: dict[str, Any]) -> bool:
    error = payload.get("error")
    metadata = error.get("metadata") if isinstance(error, dict) else None
    return isinstance(metadata, dict) and ("reasons" in metadata or "flagged_input" in metadata)


def classify_error(kind: str, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    """The gateway's answer to an upstream error of a family kind, from the status and the structured body only."""
    quirks = quirks_of(kind)
    status = dict(quirks.status_aliases).get(status, status)
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        decoded = None
    payload: dict[str, Any] = decoded if isinstance(decoded, dict) else {}
    moderated = status == 403 and quirks.moderation_403 and _is_moderation(payload)
    if status in (401, 403) and not moderated:
        return UpstreamAuthError()
    if status == quirks.credit_status:
        return UpstreamCreditError()
    try:
        relayed, code = _relayed(status, body, payload, code=CONTENT_FILTER if moderated else None)
    except LookupError:
        return UpstreamStatusError(status)
    return UpstreamRelayedError(status, relayed, code=code, retry_after=headers.get("retry-after"))
