"""The Gemini adapter's embeddings side (kind `gemini`): OpenAI embedding texts encoded as one
`models/{model}:batchEmbedContents` request, and its answer decoded back to vectors. Pure: no I/O; errors are
classified by dataplane.providers.gemini.classify_error (the same error envelope).

Reference: https://ai.google.dev/api/embeddings. The request is `{"requests": [EmbedContentRequest, ...]}`, one
per text, each naming the model (`models/{model}`, as the batch's URL does) and holding the text as a Content's
only part; OpenAI's `dimensions` becomes each request's `outputDimensionality` (Gemini truncates the vector; older
models refuse it with their own 400). The answer is `{"embeddings": [{"values": [...]}, ...]}` in request order;
the documented answer has no token counts, so the usage is estimated and flagged."""

from __future__ import annotations

import msgspec

from dataplane.errors import UpstreamUnavailableError
from dataplane.providers.gemini import models_url
from dataplane.routing import Target
from dataplane.upstream import UpstreamRequest


class _Part(msgspec.Struct, frozen=True):
    text: str


class _Content(msgspec.Struct, frozen=True):
    parts: list[_Part]


class EmbedContentRequest(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    model: str
    content: _Content
    output_dimensionality: int | None = None


class BatchEmbedContentsRequest(msgspec.Struct, frozen=True):
    requests: list[EmbedContentRequest]


class ContentEmbedding(msgspec.Struct, frozen=True):
    values: list[float] = []


class BatchEmbedContentsResponse(msgspec.Struct, frozen=True):
    embeddings: list[ContentEmbedding] = []


_encoder = msgspec.json.Encoder()
_response_decoder = msgspec.json.Decoder(BatchEmbedContentsResponse)


def encode_request(texts: list[str], *, model: str, dimensions: int | None) -> bytes:
    name = f"models/{model}"
    requests = [
        EmbedContentRequest(model=name, content=_Content(parts=[_Part(text=text)]), output_dimensionality=dimensions)
        for text in texts
    ]
    return _encoder.encode(BatchEmbedContentsRequest(requests=requests))


def decode_response(body: bytes, *, expected: int) -> list[list[float]]:
    """The vectors in input order; an answer that does not hold one per text is the provider's failure."""
    try:
        answer = _response_decoder.decode(body)
    except msgspec.DecodeError:
        raise UpstreamUnavailableError("The upstream provider sent an embeddings answer that cannot be read.") from None
    if len(answer.embeddings) != expected:
        raise UpstreamUnavailableError(
            f"The upstream provider sent {len(answer.embeddings)} embeddings for {expected} inputs."
        )
    return [embedding.values for embedding in answer.embeddings]


def build_request(
    body: bytes, *, target: Target, timeout_seconds: float, connect_timeout_seconds: float
) -> UpstreamRequest:
    """`POST {base_url}/v1beta/models/{model}:batchEmbedContents` with the gateway's `x-goog-api-key`."""
    headers = {"content-type": "application/json", "accept": "application/json"}
    if target.credentials.api_key:
        headers["x-goog-api-key"] = target.credentials.api_key
    return UpstreamRequest(
        url=f"{models_url(target.provider.base_url)}/{target.deployment.model}:batchEmbedContents",
        headers=headers,
        body=body,
        timeout_seconds=timeout_seconds,
        connect_timeout_seconds=connect_timeout_seconds,
    )
