"""The OpenAI-compatible family's quirk table (dataplane.providers.compat) against the kinds' documented fixtures:
request bodies, auth, error classification and usage classes."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from dataplane.config_state import ProviderCredentials
from dataplane.errors import UpstreamAuthError, UpstreamRelayedError, UpstreamStatusError
from dataplane.providers.compat import (
    QUIRKS,
    UnsupportedParameterError,
    UpstreamCreditError,
    build_chat_request,
    classify_error,
    encode_body,
    quirks_of,
)
from dataplane.retry import FailureClass, classify_failure, decide
from dataplane.routing import Target
from dataplane.usage_extract import StreamUsageScanner, completion_usage
from shared.snapshot import OPENAI_COMPATIBLE_KINDS, DeploymentSpec, ProviderSpec, RouteSpec
from shared.usage import TokenUsage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers"


def fixture(kind: str, name: str) -> bytes:
    return (FIXTURES / kind / "chat" / name).read_bytes()


def decoded(body: bytes) -> dict[str, object]:
    value = msgspec.json.decode(body)
    assert isinstance(value, dict)
    return value


def target(kind: str, api_key: str | None = "sk-up", base_url: str = "http://up.example/v1") -> Target:
    return Target(
        route=RouteSpec(id="r", name="route", deployment_ids=["d"]),
        deployment=DeploymentSpec(id="d", name="dep", provider_id="p", model="up-model", timeout_seconds=9.0),
        provider=ProviderSpec(id="p", name="p", kind=kind, base_url=base_url),
        credentials=ProviderCredentials(api_key=api_key),
    )


def test_every_compatible_kind_has_documented_quirks() -> None:
    assert set(QUIRKS) == set(OPENAI_COMPATIBLE_KINDS)
    assert all(quirks.source.startswith("https://") for quirks in QUIRKS.values())


def test_a_kind_outside_the_family_gets_openais_behaviour() -> None:
    assert quirks_of("openai") == QUIRKS["openai_compatible"]


def test_mistral_gets_its_own_names_and_never_stream_options() -> None:
    body = (
        b'{"model":"m","max_completion_tokens":64,"seed":7,"stream":true,'
        b'"stream_options":{"include_usage":true},"safe_prompt":true}'
    )
    sent = encode_body("mistral", body, "mistral-large-latest", include_usage=True)
    assert decoded(sent) == {
        "model": "mistral-large-latest",
        "max_tokens": 64,
        "random_seed": 7,
        "stream": True,
        "safe_prompt": True,
    }


def test_a_renamed_field_sent_under_both_names_is_refused() -> None:
    with pytest.raises(UnsupportedParameterError) as refused:
        encode_body("deepseek", b'{"model":"m","max_tokens":5,"max_completion_tokens":6}', "deepseek-chat")
    assert refused.value.status == 400 and refused.value.param == "max_completion_tokens"
    assert refused.value.code == "unsupported_parameter"


@pytest.mark.parametrize("kind", ["deepseek", "ollama"])
def test_kinds_documenting_only_max_tokens_get_it(kind: str) -> None:
    sent = encode_body(kind, b'{"model":"m","max_completion_tokens":32}', "up")
    assert decoded(sent) == {"model": "up", "max_tokens": 32}


@pytest.mark.parametrize("kind", ["together", "groq", "xai", "fireworks", "openrouter", "vllm", "deepseek"])
def test_other_kinds_are_asked_for_stream_usage_and_keep_values_verbatim(kind: str) -> None:
    body = b'{"model":"m","temperature":0.50,"extra":{"deep":[1,"\\u00e9"]},"stream":true}'
    sent = encode_body(kind, body, "up", include_usage=True)
    assert sent.startswith(b'{"model":"up","temperature":0.50,"extra":{"deep":[1,"\\u00e9"]},"stream":true')
    assert decoded(sent)["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b'{"model":"m","messages":[],"logprobs":true}', "logprobs"),
        (b'{"model":"m","messages":[],"logit_bias":{"1":2}}', "logit_bias"),
        (b'{"model":"m","messages":[],"top_logprobs":2}', "top_logprobs"),
        (b'{"model":"m","messages":[],"n":2}', "n"),
        (
            b'{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"user","name":"ann","content":"x"}]}',
            "messages[1].name",
        ),
    ],
)
def test_groq_refuses_what_its_documentation_says_it_rejects(body: bytes, param: str) -> None:
    with pytest.raises(UnsupportedParameterError) as refused:
        encode_body("groq", body, "llama-3.3-70b-versatile")
    assert refused.value.param == param and "groq" in refused.value.message


def test_groq_accepts_a_single_choice_and_null_fields() -> None:
    body = b'{"model":"m","messages":[{"role":"user","content":"hi","name":null}],"n":1,"logprobs":null}'
    assert decoded(encode_body("groq", body, "up"))["n"] == 1


def test_no_credentials_means_no_authorization_header() -> None:
    request = build_chat_request(b'{"model":"m"}', target=target("ollama", api_key=None), stream=True)
    assert "authorization" not in request.headers
    assert request.url == "http://up.example/v1/chat/completions"


def test_a_key_is_sent_as_bearer_to_the_configured_base_url() -> None:
    request = build_chat_request(
        b'{"model":"m"}', target=target("groq", base_url="https://api.groq.com/openai/v1"), stream=False
    )
    assert request.url == "https://api.groq.com/openai/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-up"
    assert request.timeout_seconds == 9.0


def test_mistrals_flat_error_is_relayed_as_openai_error_json() -> None:
    error = classify_error("mistral", 422, fixture("mistral", "unprocessable.json"), {})
    assert isinstance(error, UpstreamRelayedError) and error.status == 422
    detail = decoded(error.body())["error"]
    assert isinstance(detail, dict) and detail["type"] == "invalid_request_error"
    assert isinstance(detail["message"], str) and "extra_forbidden" in detail["message"]


def test_mistral_rate_limit_keeps_its_code_and_retry_after() -> None:
    error = classify_error("mistral", 429, fixture("mistral", "rate_limited.json"), {"retry-after": "3"})
    assert isinstance(error, UpstreamRelayedError) and error.code == "1300" and error.retryable
    assert error.headers()["retry-after"] == "3"


def test_groq_flex_capacity_498_is_a_retryable_503() -> None:
    error = classify_error("groq", 498, fixture("groq", "capacity_exceeded.json"), {})
    assert error.status == 503 and error.retryable
    assert classify_failure(error) is FailureClass.SERVER


@pytest.mark.parametrize(
    ("kind", "name"), [("deepseek", "insufficient_balance.json"), ("openrouter", "insufficient_credits.json")]
)
def test_out_of_credit_is_the_gateways_problem_not_the_clients(kind: str, name: str) -> None:
    error = classify_error(kind, 402, fixture(kind, name), {})
    assert isinstance(error, UpstreamCreditError) and isinstance(error, UpstreamAuthError)
    assert error.status == 502 and b"Insufficient" not in error.body()


def test_openrouter_moderation_403_is_a_content_refusal_that_may_fall_over() -> None:
    error = classify_error("openrouter", 403, fixture("openrouter", "moderation.json"), {})
    assert isinstance(error, UpstreamRelayedError) and error.status == 403 and error.code == "content_filter"
    original = decoded(fixture("openrouter", "moderation.json"))["error"]
    assert isinstance(original, dict)
    assert decoded(error.body())["error"] == {**original, "code": "content_filter"}
    assert decide(error).fall_over and not decide(error).retry_same


def test_a_403_without_moderation_metadata_is_still_our_credentials() -> None:
    assert isinstance(
        classify_error("openrouter", 403, b'{"error":{"code":403,"message":"no"}}', {}), UpstreamAuthError
    )
    assert isinstance(classify_error("mistral", 401, fixture("mistral", "unauthorized.json"), {}), UpstreamAuthError)


def test_xai_error_shape_becomes_openai_error_json() -> None:
    error = classify_error("xai", 400, fixture("xai", "bad_request.json"), {})
    assert isinstance(error, UpstreamRelayedError) and not error.retryable
    assert decoded(error.body())["error"] == {
        "message": "Argument not supported on this model: presencePenalty",
        "type": "invalid_request_error",
        "param": None,
        "code": "Client specified an invalid argument",
    }


def test_vllm_both_error_shapes_are_relayed_with_their_codes() -> None:
    old = classify_error("vllm", 400, fixture("vllm", "bad_request.json"), {})
    new = classify_error("vllm", 404, fixture("vllm", "not_found.json"), {})
    assert isinstance(old, UpstreamRelayedError) and old.code == "400"
    assert decoded(old.body())["error"]["type"] == "BadRequestError"  # type: ignore[index]
    assert isinstance(new, UpstreamRelayedError) and new.code == "404" and new.status == 404


def test_an_unreadable_error_body_keeps_only_its_status() -> None:
    error = classify_error("together", 502, b"<html>bad gateway</html>", {})
    assert isinstance(error, UpstreamStatusError) and error.status == 502 and error.retryable


def test_deepseek_cache_hits_and_reasoning_are_split_into_classes() -> None:
    usage, estimated = completion_usage(fixture("deepseek", "reasoning.json"), prompt_bytes=100)
    assert not estimated
    assert usage == TokenUsage(input=16, cached_input=64, output=30, reasoning=90)


def test_xai_reasoning_is_counted_apart_from_completion_tokens() -> None:
    usage, _ = completion_usage(fixture("xai", "good.json"), prompt_bytes=100, reasoning_in_completion=False)
    assert usage == TokenUsage(input=26, cached_input=6, output=9, reasoning=94)
    assert usage.total == 135  # xAI's total_tokens


def scan(kind: str, *, hide: bool, reasoning_in_completion: bool = True) -> tuple[bytes, StreamUsageScanner]:
    body = fixture(kind, "stream.sse")
    scanner = StreamUsageScanner(
        prompt_bytes=100, hide_usage_chunk=hide, reasoning_in_completion=reasoning_in_completion
    )
    forwarded = b"".join(scanner.feed(body[i : i + 37]) for i in range(0, len(body), 37)) + scanner.flush()
    return forwarded, scanner


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("groq", TokenUsage(input=38, output=4)),  # x_groq.usage on the last chunk
        ("mistral", TokenUsage(input=34, output=12)),  # on the chunk with finish_reason
        ("fireworks", TokenUsage(input=17, output=6)),
        ("together", TokenUsage(input=39, output=9)),
        ("deepseek", TokenUsage(input=8, cached_input=32, output=8)),
        ("openrouter", TokenUsage(input=12, output=3)),
        ("ollama", TokenUsage(input=33, output=6)),
        ("vllm", TokenUsage(input=20, output=5)),
    ],
)
def test_stream_usage_is_found_wherever_the_kind_puts_it(kind: str, expected: TokenUsage) -> None:
    _, scanner = scan(kind, hide=True)
    assert scanner.result() == (expected, False)


def test_xais_cumulative_stream_usage_keeps_the_last_count() -> None:
    _, scanner = scan("xai", hide=True, reasoning_in_completion=False)
    assert scanner.result() == (TokenUsage(input=38, output=6, reasoning=20), False)


def test_openrouter_keepalive_comments_pass_and_only_the_usage_chunk_is_hidden() -> None:
    forwarded, _ = scan("openrouter", hide=True)
    assert forwarded.startswith(b": OPENROUTER PROCESSING\n\n")
    assert b'"choices":[]' not in forwarded and forwarded.endswith(b"data: [DONE]\n\n")
    assert forwarded.count(b"data: {") == 4
