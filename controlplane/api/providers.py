"""Providers: upstream accounts. Credentials are write-only: sealed (AES-256-GCM, bound to the provider id) on
the way in, reported only as `has_credentials` on the way out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.api.errors import FieldError, ValidationFailedError
from controlplane.api.fields import HttpUrl, Name
from controlplane.api.resource import Created, Resource, assign_fields, read_columns
from controlplane.db.models import Provider, new_id
from shared.crypto import MasterSecret
from shared.snapshot import DEFAULT_BASE_URLS

# Kept equal to shared.snapshot.PROVIDER_KINDS (a unit test checks), spelled out so the schema lists them.
ProviderKind = Literal[
    "openai",
    "openai_compatible",
    "mistral",
    "groq",
    "together",
    "deepseek",
    "xai",
    "fireworks",
    "openrouter",
    "ollama",
    "vllm",
    "anthropic",
    "azure_openai",
    "gemini",
    "vertex_ai",
    "bedrock",
    "cohere",
    "mock",
]


Secret = Annotated[str, Meta(min_length=1, max_length=8192)]


class ProviderCredentials(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """One of: `api_key` (most kinds); the AWS access key pair (bedrock); a Google service-account key (vertex_ai,
    the JSON file's text)."""

    api_key: Secret | None = None
    aws_access_key_id: Secret | None = None
    aws_secret_access_key: Secret | None = None
    aws_session_token: Secret | None = None
    service_account_json: Annotated[str, Meta(min_length=2, max_length=65536)] | None = None


class ProviderCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    kind: ProviderKind
    base_url: HttpUrl | None = None  # required for openai_compatible, vllm, azure_openai; others: the public API
    credentials: ProviderCredentials | None = None  # write-only


class ProviderUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    base_url: HttpUrl | UnsetType = UNSET
    credentials: ProviderCredentials | UnsetType | None = UNSET  # null removes them


class ProviderRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    kind: str
    base_url: str
    has_credentials: bool
    created_at: datetime
    updated_at: datetime


# the public API of each OpenAI-compatible kind, from its documentation (equal to the data plane's
# dataplane.providers.compat table, a unit test checks); vllm and openai_compatible have none: base_url is required
_SERVICE_ACCOUNT_FIELDS = ("client_email", "private_key", "token_uri")


def _credential_errors(kind: str, credentials: ProviderCredentials | None) -> list[FieldError]:
    """vertex_ai signs in with a Google service-account key file: require one the data plane can use; bedrock
    with an AWS key pair; every other kind's credentials, when given, are an `api_key`. The message never quotes
    the key."""
    if kind == "bedrock":
        return _aws_key_errors(credentials)
    if kind != "vertex_ai":
        if credentials is not None and credentials.api_key is None:
            return [FieldError("$.credentials.api_key", f"required in the credentials of kind {kind!r}")]
        return []
    path = "$.credentials.service_account_json"
    key = credentials.service_account_json if credentials is not None else None
    if key is None:
        return [FieldError(path, "required for kind 'vertex_ai'")]
    try:
        info = msgspec.json.decode(key)
    except msgspec.DecodeError:
        info = None
    if not isinstance(info, dict) or not all(isinstance(info.get(name), str) for name in _SERVICE_ACCOUNT_FIELDS):
        message = "must be a Google service-account key file (JSON with client_email, private_key, token_uri)"
        return [FieldError(path, message)]
    return []


def _aws_key_errors(credentials: ProviderCredentials | None) -> list[FieldError]:
    """bedrock signs its calls (SigV4) with an AWS access key pair; a session token is optional."""
    present = credentials is not None and credentials.aws_access_key_id and credentials.aws_secret_access_key
    if present:
        return []
    message = "kind 'bedrock' requires aws_access_key_id and aws_secret_access_key"
    return [FieldError("$.credentials", message)]


def _seal(master: MasterSecret, provider_id: str, credentials: ProviderCredentials | None) -> bytes | None:
    if credentials is None:
        return None
    return master.seal(msgspec.json.encode(credentials), context=provider_id)


async def create_provider(*, session: AsyncSession, master: MasterSecret, data: ProviderCreate) -> Created[Provider]:
    base_url = data.base_url if data.base_url is not None else DEFAULT_BASE_URLS.get(data.kind)
    errors = _credential_errors(data.kind, data.credentials)
    if base_url is None:
        errors.insert(0, FieldError("$.base_url", f"required for kind {data.kind!r}"))
    if errors:
        raise ValidationFailedError("request is not valid", errors=errors)
    provider_id = new_id()  # before sealing: the ciphertext is bound to it
    return Created(
        Provider(
            id=provider_id,
            name=data.name,
            kind=data.kind,
            base_url=base_url,
            credentials_sealed=_seal(master, provider_id, data.credentials),
        )
    )


async def update_provider(*, session: AsyncSession, master: MasterSecret, row: Provider, data: ProviderUpdate) -> None:
    if data.credentials is not UNSET and (errors := _credential_errors(row.kind, data.credentials)):
        raise ValidationFailedError("request is not valid", errors=errors)
    assign_fields(row, data, skip=frozenset({"credentials"}))
    if data.credentials is not UNSET:
        row.credentials_sealed = _seal(master, row.id, data.credentials)


async def read_providers(*, session: AsyncSession, rows: Sequence[Provider]) -> list[ProviderRead]:
    return [read_columns(ProviderRead, row, has_credentials=row.credentials_sealed is not None) for row in rows]


resource = Resource(
    path="providers",
    singular="provider",
    model=Provider,
    create_type=ProviderCreate,
    update_type=ProviderUpdate,
    read_type=ProviderRead,
    on_create=create_provider,
    on_update=update_provider,
    on_read=read_providers,
)
