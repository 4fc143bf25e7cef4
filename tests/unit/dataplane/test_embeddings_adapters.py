"""The pure parts of /v1/embeddings: OpenAI's base64 vector encoding, the input read as texts, the Gemini
(batchEmbedContents) and Cohere (v2 Embed) translations both ways, the OpenAI-protocol endpoint URLs, the mock's
vectors, and which target kinds serve the endpoint."""

from __future__ import annotations

import array
import base64
import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataplane.config_state import ProviderCredentials
from dataplane.embeddings_wire import EmbeddingsRequestView, encode_response, float32_base64, texts_of
from dataplane.endpoint_support import (
    COMPLETIONS_KINDS,
    EMBEDDINGS_KINDS,
    UnsupportedEndpointError,
    supporting_targets,
)
from dataplane.errors import InvalidParameterError, UpstreamUnavailableError
from dataplane.providers import cohere_embed, gemini_embed, mock_text, openai_endpoints
from dataplane.routing import Target
from shared.snapshot import DeploymentSpec, ProviderSpec, RouteSpec
from tests.fakes.replay_server import FIXTURES

_view_decoder = msgspec.json.Decoder(EmbeddingsRequestView)


def view(**fields: object) -> EmbeddingsRequestView:
    return _view_decoder.decode(json.dumps({"model": "emb", **fields}))


def target(kind: str, base_url: str = "https://api.example.com/v1", model: str = "m") -> Target:
    return Target(
        route=RouteSpec(id="r", name="emb", deployment_ids=["d"]),
        deployment=DeploymentSpec(id="d", name="d", provider_id="p", model=model),
        provider=ProviderSpec(id="p", name="p", kind=kind, base_url=base_url),
        credentials=ProviderCredentials(api_key="upstream-key"),
    )


def test_base64_is_little_endian_float32_as_openai_encodes_it() -> None:
    assert float32_base64([1.0, -2.0]) == base64.b64encode(bytes.fromhex("0000803f000000c0")).decode()


@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), max_size=64))
def test_base64_round_trips_every_float32_vector_as_the_sdk_decodes_it(vector: list[float]) -> None:
    assert array.array("f", base64.b64decode(float32_base64(vector))).tolist() == vector


def test_an_answer_holds_one_item_per_vector_in_order_in_the_asked_encoding() -> None:
    vectors = [[0.5, -0.25], [1.0, 0.0]]
    floats = json.loads(encode_response(vectors, model="m", prompt_tokens=3, encoding_format=None))
    encoded = json.loads(encode_response(vectors, model="m", prompt_tokens=3, encoding_format="base64"))
    assert floats == {
        "data": [
            {"index": 0, "embedding": [0.5, -0.25], "object": "embedding"},
            {"index": 1, "embedding": [1.0, 0.0], "object": "embedding"},
        ],
        "model": "m",
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
        "object": "list",
    }
    assert [item["embedding"] for item in encoded["data"]] == [float32_base64(v) for v in vectors]


def test_input_is_read_as_texts_and_token_ids_or_empty_texts_are_refused_naming_input() -> None:
    assert texts_of(view(input="one")) == ["one"]
    assert texts_of(view(input=["one", "two"])) == ["one", "two"]
    for refused in ([1, 2, 3], [[1, 2], [3]], ["one", ""]):
        with pytest.raises(InvalidParameterError) as caught:
            texts_of(view(input=refused))
        assert caught.value.param == "input"


def test_an_empty_input_list_or_a_zero_dimension_fails_validation() -> None:
    invalid: list[dict[str, object]] = [
        {"input": []},
        {"input": "x", "dimensions": 0},
        {"input": "x", "encoding_format": "int8"},
    ]
    for fields in invalid:
        with pytest.raises(msgspec.ValidationError):
            view(**fields)


def test_gemini_gets_one_embed_content_request_per_text_naming_its_model() -> None:
    encoded = json.loads(gemini_embed.encode_request(["a", "b"], model="gemini-embedding-001", dimensions=None))
    assert encoded == {
        "requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}},
        ]
    }
    with_dimensions = json.loads(gemini_embed.encode_request(["a"], model="m", dimensions=256))
    assert with_dimensions["requests"][0]["outputDimensionality"] == 256


def test_gemini_answers_decode_to_vectors_and_a_short_answer_is_the_providers_failure() -> None:
    body = (FIXTURES / "gemini" / "embeddings" / "good.json").read_bytes()
    expected = [item["values"] for item in json.loads(body)["embeddings"]]
    assert gemini_embed.decode_response(body, expected=2) == expected
    with pytest.raises(UpstreamUnavailableError):
        gemini_embed.decode_response(body, expected=3)
    with pytest.raises(UpstreamUnavailableError):
        gemini_embed.decode_response(b"<html>", expected=2)


def test_gemini_calls_batch_embed_contents_with_its_key_header() -> None:
    request = gemini_embed.build_request(
        b"{}",
        target=target("gemini", "https://generativelanguage.googleapis.com", "gemini-embedding-001"),
        timeout_seconds=5,
        connect_timeout_seconds=1,
    )
    assert request.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:batchEmbedContents"
    )
    assert request.headers["x-goog-api-key"] == "upstream-key"


def test_cohere_gets_texts_a_default_input_type_and_float_embeddings() -> None:
    encoded = json.loads(cohere_embed.encode_request(["a"], model="embed-v4.0", dimensions=None, input_type=None))
    assert encoded == {
        "model": "embed-v4.0",
        "texts": ["a"],
        "input_type": "search_document",
        "embedding_types": ["float"],
    }
    asked = json.loads(cohere_embed.encode_request(["a"], model="embed-v4.0", dimensions=512, input_type="clustering"))
    assert (asked["input_type"], asked["output_dimension"]) == ("clustering", 512)


@pytest.mark.parametrize(
    ("model", "takes"),
    [
        ("embed-v4.0", True),
        ("embed-v5.0", True),
        ("embed-english-v3.0", False),
        ("embed-multilingual-light-v3.0", False),
    ],
)
def test_only_cohere_embed_v4_and_newer_take_dimensions(model: str, takes: bool) -> None:
    assert cohere_embed.takes_output_dimension(model) is takes
    if not takes:
        with pytest.raises(InvalidParameterError) as caught:
            cohere_embed.encode_request(["a"], model=model, dimensions=256, input_type=None)
        assert caught.value.param == "dimensions"


def test_cohere_refuses_an_unknown_input_type() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        cohere_embed.encode_request(["a"], model="embed-v4.0", dimensions=None, input_type="image")
    assert caught.value.param == "input_type"


def test_cohere_answers_decode_to_float_vectors_and_billed_input_tokens() -> None:
    good = (FIXTURES / "cohere" / "embeddings" / "good.json").read_bytes()
    vectors, billed = cohere_embed.decode_response(good, expected=2)
    assert vectors == json.loads(good)["embeddings"]["float"] and billed == 2
    unbilled = (FIXTURES / "cohere" / "embeddings" / "no_usage.json").read_bytes()
    assert cohere_embed.decode_response(unbilled, expected=2)[1] is None
    with pytest.raises(UpstreamUnavailableError):
        cohere_embed.decode_response(good, expected=1)


@pytest.mark.parametrize(
    ("base_url", "url"),
    [("https://api.cohere.com", "https://api.cohere.com/v2/embed"), ("https://x/v2/", "https://x/v2/embed")],
)
def test_cohere_embed_url(base_url: str, url: str) -> None:
    assert cohere_embed.embed_url(base_url) == url


@pytest.mark.parametrize(
    ("kind", "base_url", "endpoint", "url"),
    [
        ("openai", "https://api.openai.com/v1", "embeddings", "https://api.openai.com/v1/embeddings"),
        ("mistral", "https://api.mistral.ai/v1/", "embeddings", "https://api.mistral.ai/v1/embeddings"),
        ("vllm", "http://gpu:8000/v1", "completions", "http://gpu:8000/v1/completions"),
        ("deepseek", "https://api.deepseek.com", "completions", "https://api.deepseek.com/beta/completions"),
        ("deepseek", "https://api.deepseek.com/v1", "completions", "https://api.deepseek.com/beta/completions"),
        ("deepseek", "https://api.deepseek.com/beta/", "completions", "https://api.deepseek.com/beta/completions"),
        (
            "azure_openai",
            "https://res.openai.azure.com",
            "embeddings",
            "https://res.openai.azure.com/openai/deployments/m/embeddings?api-version=2024-10-21",
        ),
        (
            "azure_openai",
            "https://res.openai.azure.com/openai?api-version=2024-06-01",
            "completions",
            "https://res.openai.azure.com/openai/deployments/m/completions?api-version=2024-06-01",
        ),
    ],
)
def test_openai_protocol_endpoint_urls(kind: str, base_url: str, endpoint: str, url: str) -> None:
    assert openai_endpoints.endpoint_url(target(kind, base_url), endpoint) == url  # type: ignore[arg-type]


def test_the_forwarded_body_changes_only_the_model_and_azure_keeps_its_header() -> None:
    body = b'{"model":"emb","input":[[1,2]],"encoding_format":"base64","x_unknown":{"k":[1]}}'
    openai_request = openai_endpoints.build_request(body, target=target("openai"), endpoint="embeddings", stream=False)
    azure_request = openai_endpoints.build_request(
        body, target=target("azure_openai", "https://res.openai.azure.com"), endpoint="embeddings", stream=False
    )
    assert json.loads(openai_request.body) == {**json.loads(body), "model": "m"}
    assert openai_request.headers["authorization"] == "Bearer upstream-key"
    assert azure_request.headers["api-key"] == "upstream-key" and "authorization" not in azure_request.headers


def test_the_mock_gives_the_same_input_the_same_vector_of_the_asked_size() -> None:
    first = json.loads(mock_text.encode_embeddings(view(input=["a b", "c"], dimensions=40), model="emb"))
    again = json.loads(mock_text.encode_embeddings(view(input="a b", encoding_format="float"), model="emb"))
    vectors = [item["embedding"] for item in first["data"]]
    assert [len(v) for v in vectors] == [40, 40] and vectors[0] != vectors[1]
    assert again["data"][0]["embedding"] == vectors[0][: mock_text.DEFAULT_DIMENSIONS]
    assert first["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


def test_targets_of_kinds_without_the_endpoint_are_skipped_and_none_left_is_a_400() -> None:
    targets = [target("anthropic"), target("cohere"), target("openai")]
    assert [t.provider.kind for t in supporting_targets(targets, kinds=EMBEDDINGS_KINDS, model="x", endpoint="e")] == [
        "cohere",
        "openai",
    ]
    with pytest.raises(UnsupportedEndpointError) as caught:
        supporting_targets(targets[:2], kinds=COMPLETIONS_KINDS, model="x", endpoint="text completions")
    assert caught.value.status == 400 and caught.value.param == "model"
    assert {"bedrock", "vertex_ai", "anthropic"}.isdisjoint(EMBEDDINGS_KINDS | COMPLETIONS_KINDS)
