"""OpenAI embeddings wire types (`POST /v1/embeddings`): the view of a request the gateway reads, the answer the
translating adapters and the mock build, and OpenAI's base64 encoding of a vector. Unknown request fields are
ignored here and survive forwarding to OpenAI-protocol targets.

Reference: https://platform.openai.com/docs/api-reference/embeddings. `input` is a string, a list of strings, a
list of token ids or a list of lists of token ids; `encoding_format` is `float` (the default) or `base64` (the raw
little-endian float32 bytes of each vector, base64-encoded: what the openai SDKs ask for by default)."""

from __future__ import annotations

import base64
import struct
from typing import Annotated, Literal

import msgspec

from dataplane.errors import InvalidParameterError

EncodingFormat = Literal["float", "base64"]


class EmbeddingsRequestView(msgspec.Struct, frozen=True):
    """Only the fields the gateway reads; everything else is forwarded untouched (OpenAI-protocol targets)."""

    model: str
    input: str | Annotated[list[str | int | list[int]], msgspec.Meta(min_length=1)]
    encoding_format: EncodingFormat | None = None
    dimensions: Annotated[int, msgspec.Meta(gt=0)] | None = None
    input_type: str | None = None  # a Cohere extension (search_document, search_query, ...), sent as extra_body

    @property
    def wants_base64(self) -> bool:
        return self.encoding_format == "base64"


class EmbeddingUsage(msgspec.Struct, frozen=True):
    prompt_tokens: int
    total_tokens: int


class Embedding(msgspec.Struct, frozen=True):
    index: int
    embedding: list[float] | str
    object: str = "embedding"


class CreateEmbeddingResponse(msgspec.Struct, frozen=True):
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
    object: str = "list"


_encoder = msgspec.json.Encoder()


def texts_of(request: EmbeddingsRequestView) -> list[str]:
    """The input as texts, for the adapters that translate it: token ids cannot be translated (another provider
    has another tokenizer), so they are refused with a 400 naming `input`."""
    if isinstance(request.input, str):
        items: list[str | int | list[int]] = [request.input]
    else:
        items = request.input
    texts = [item for item in items if isinstance(item, str)]
    if len(texts) != len(items):
        raise InvalidParameterError(
            "This model takes `input` as a string or a list of strings; token ids are only accepted by models "
            "served by an OpenAI-protocol provider.",
            param="input",
        )
    if any(not text for text in texts):
        raise InvalidParameterError("`input` must not contain empty strings.", param="input")
    return texts


def float32_base64(vector: list[float]) -> str:
    """A vector as OpenAI's `base64` encoding format: little-endian float32 values, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def encode_response(
    vectors: list[list[float]], *, model: str, prompt_tokens: int, encoding_format: EncodingFormat | None
) -> bytes:
    """An OpenAI embeddings answer, one item per vector in input order."""
    data = [
        Embedding(index=index, embedding=float32_base64(vector) if encoding_format == "base64" else vector)
        for index, vector in enumerate(vectors)
    ]
    usage = EmbeddingUsage(prompt_tokens=prompt_tokens, total_tokens=prompt_tokens)
    return _encoder.encode(CreateEmbeddingResponse(data=data, model=model, usage=usage))
