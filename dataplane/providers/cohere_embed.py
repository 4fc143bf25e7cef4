"""The Cohere adapter's embeddings side (kind `cohere`): OpenAI embedding texts encoded as a v2 Embed request
(`POST {base_url}/v2/embed`, Bearer key), and its answer decoded back to vectors and billed input tokens. Pure: no
I/O; errors are classified by dataplane.providers.cohere.classify_error (the same error body).

Reference: https://docs.cohere.com/reference/embed. The request carries `model`, `texts`, `input_type` (required
by Cohere's v3+ models; OpenAI has no such field, so the client's `input_type` extension field is used when sent,
else `search_document`) and `embedding_types: ["float"]` (base64 is encoded by the gateway, as OpenAI does).
OpenAI's `dimensions` becomes `output_dimension`, which only embed-v4 and newer models take: for older models it
is refused with a 400 naming `dimensions`. The answer's vectors are `embeddings.float`, in input order; its usage
`meta.billed_units.input_tokens`."""

from __future__ import annotations

import re

import msgspec

from dataplane.errors import InvalidParameterError, UpstreamUnavailableError
from dataplane.routing import Target
from dataplane.upstream import UpstreamRequest

DEFAULT_INPUT_TYPE = "search_document"
INPUT_TYPES = frozenset({"search_document", "search_query", "classification", "clustering"})
FIRST_VERSION_WITH_OUTPUT_DIMENSION = 4
_VERSION = re.compile(r"^embed-v(\d+)")


class EmbedRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    model: str
    texts: list[str]
    input_type: str
    embedding_types: list[str]
    output_dimension: int | None = None


class _Embeddings(msgspec.Struct, frozen=True):
    floats: list[list[float]] | None = msgspec.field(default=None, name="float")


class _BilledUnits(msgspec.Struct, frozen=True):
    input_tokens: float | None = None


class _Meta(msgspec.Struct, frozen=True):
    billed_units: _BilledUnits | None = None


class EmbedResponse(msgspec.Struct, frozen=True):
    embeddings: _Embeddings
    meta: _Meta | None = None


_encoder = msgspec.json.Encoder()
_response_decoder = msgspec.json.Decoder(EmbedResponse)


def takes_output_dimension(model: str) -> bool:
    """embed-v4.0 and newer take `output_dimension`; v3 and the light models do not."""
    match = _VERSION.match(model)
    return match is not None and int(match[1]) >= FIRST_VERSION_WITH_OUTPUT_DIMENSION


def encode_request(texts: list[str], *, model: str, dimensions: int | None, input_type: str | None) -> bytes:
    if dimensions is not None and not takes_output_dimension(model):
        raise InvalidParameterError(
            f"`dimensions` is not supported by the Cohere model {model}: Cohere takes it from embed-v4 on.",
            param="dimensions",
        )
    if input_type is not None and input_type not in INPUT_TYPES:
        raise InvalidParameterError(
            f"`input_type` must be one of {', '.join(sorted(INPUT_TYPES))}.", param="input_type"
        )
    request = EmbedRequest(
        model=model,
        texts=texts,
        input_type=input_type or DEFAULT_INPUT_TYPE,
        embedding_types=["float"],
        output_dimension=dimensions,
    )
    return _encoder.encode(request)


def decode_response(body: bytes, *, expected: int) -> tuple[list[list[float]], int | None]:
    """The float vectors in input order, and the billed input tokens (None when the answer has none)."""
    try:
        answer = _response_decoder.decode(body)
    except msgspec.DecodeError:
        raise UpstreamUnavailableError("The upstream provider sent an embeddings answer that cannot be read.") from None
    vectors = answer.embeddings.floats or []
    if len(vectors) != expected:
        raise UpstreamUnavailableError(f"The upstream provider sent {len(vectors)} embeddings for {expected} inputs.")
    billed = answer.meta.billed_units if answer.meta is not None else None
    tokens = billed.input_tokens if billed is not None else None
    return vectors, None if tokens is None else int(tokens)


def embed_url(base_url: str) -> str:
    """`{base_url}/v2/embed`; a base URL that already ends in `/v2` keeps it."""
    base = base_url.rstrip("/")
    return f"{base}/embed" if base.endswith("/v2") else f"{base}/v2/embed"


def build_request(
    body: bytes, *, target: Target, timeout_seconds: float, connect_timeout_seconds: float
) -> UpstreamRequest:
    headers = {"content-type": "application/json", "accept": "application/json"}
    if target.credentials.api_key:
        headers["authorization"] = f"Bearer {target.credentials.api_key}"
    return UpstreamRequest(
        url=embed_url(target.provider.base_url),
        headers=headers,
        body=body,
        timeout_seconds=timeout_seconds,
        connect_timeout_seconds=connect_timeout_seconds,
    )
