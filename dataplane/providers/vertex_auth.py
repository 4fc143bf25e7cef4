"""OAuth access tokens for Vertex AI providers, minted from each provider's service-account key with the standard
Google auth library (google-auth: a JWT assertion signed with the key, exchanged at the key's `token_uri`).

The library is blocking (`requests`), so a token is minted in a worker thread, never on the event loop. A token
is kept per provider until `REFRESH_MARGIN_SECONDS` before it expires, bound to the key it came from (a rotated
key mints anew); concurrent requests wait for one mint. A token Vertex refused (401) is forgotten. Neither the
key nor a token is ever logged or put in an error message."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import requests
from google.auth import exceptions as google_errors
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import service_account

from dataplane.errors import UpstreamAuthError, UpstreamUnavailableError
from dataplane.providers.vertex import SCOPES

REFRESH_MARGIN_SECONDS = 300.0  # Google's tokens live an hour; renew in the last five minutes
TOKEN_TIMEOUT_SECONDS = 10.0
_DEFAULT_LIFETIME_SECONDS = 3600.0  # when the token endpoint gives no `expires_in`


class _TimedRequest(GoogleRequest):
    """google-auth's `requests` transport with our timeout instead of its 120 s default."""

    def __init__(self, session: requests.Session, timeout_seconds: float) -> None:
        super().__init__(session)
        self._timeout_seconds = timeout_seconds

    def __call__(
        self, url: Any, method: Any = "GET", body: Any = None, headers: Any = None, timeout: Any = None, **kwargs: Any
    ) -> Any:
        call: Any = super().__call__  # untyped in google-auth
        return call(url, method=method, body=body, headers=headers, timeout=self._timeout_seconds, **kwargs)


def mint_token(service_account_json: str, *, timeout_seconds: float = TOKEN_TIMEOUT_SECONDS) -> tuple[str, float]:
    """A fresh access token and its lifetime in seconds. Blocking: run it in a worker thread."""
    try:
        info = json.loads(service_account_json)
        load: Any = service_account.Credentials.from_service_account_info  # untyped in google-auth
        credentials = load(info, scopes=list(SCOPES))
    except (ValueError, TypeError, KeyError):
        # the library's messages may quote the key file: say nothing of its content
        raise UpstreamAuthError("The provider's service-account key is not usable.") from None
    try:
        with requests.Session() as session:
            session.trust_env = False  # like the upstream client: no proxy or netrc taken from the environment
            credentials.refresh(_TimedRequest(session, timeout_seconds))
    except google_errors.RefreshError as exc:
        if exc.retryable:
            raise UpstreamUnavailableError("The provider's token endpoint failed; try again.") from None
        raise UpstreamAuthError("The provider's token endpoint refused the service-account key.") from None
    except (google_errors.TransportError, requests.RequestException):
        raise UpstreamUnavailableError("The provider's token endpoint could not be reached.") from None
    token: str = credentials.token
    expiry: datetime.datetime | None = credentials.expiry
    if expiry is None:
        return token, _DEFAULT_LIFETIME_SECONDS
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)  # google-auth's expiry is naive UTC
    return token, (expiry.replace(tzinfo=None) - now).total_seconds()


@dataclass(frozen=True, slots=True)
class _Cached:
    fingerprint: str  # of the key the token was minted from
    token: str
    expires_at: float  # unix seconds


def _fingerprint(service_account_json: str) -> str:
    return hashlib.sha256(service_account_json.encode()).hexdigest()


class GoogleTokens:
    """Per worker, across config swaps (kept on the Runtime): provider id → its current access token."""

    def __init__(
        self,
        *,
        refresh_margin_seconds: float = REFRESH_MARGIN_SECONDS,
        timeout_seconds: float = TOKEN_TIMEOUT_SECONDS,
    ) -> None:
        self.refresh_margin_seconds = refresh_margin_seconds
        self.timeout_seconds = timeout_seconds
        self._cached: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _fresh(self, provider_id: str, fingerprint: str, now: float) -> str | None:
        cached = self._cached.get(provider_id)
        if cached is None or cached.fingerprint != fingerprint:
            return None
        return cached.token if now < cached.expires_at - self.refresh_margin_seconds else None

    async def token(self, provider_id: str, service_account_json: str | None, *, now: float) -> str:
        """A token valid for a while yet; mints one (in a thread) when there is none. `now` is unix seconds."""
        if not service_account_json:
            raise UpstreamAuthError("The provider has no service-account key.")
        fingerprint = _fingerprint(service_account_json)
        token = self._fresh(provider_id, fingerprint, now)
        if token is not None:
            return token
        lock = self._locks.setdefault(provider_id, asyncio.Lock())
        async with lock:
            token = self._fresh(provider_id, fingerprint, now)  # another request may have minted it meanwhile
            if token is not None:
                return token
            minted, lifetime = await asyncio.to_thread(
                mint_token, service_account_json, timeout_seconds=self.timeout_seconds
            )
            self._cached[provider_id] = _Cached(fingerprint, minted, now + lifetime)
            return minted

    def forget(self, provider_id: str, token: str) -> None:
        """Vertex refused `token`: drop it, unless a newer one has replaced it already."""
        cached = self._cached.get(provider_id)
        if cached is not None and cached.token == token:
            del self._cached[provider_id]
