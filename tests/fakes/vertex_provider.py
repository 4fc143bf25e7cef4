"""A fake Google OAuth token endpoint and a fake Vertex AI on loopback, for the `vertex_ai` adapter.

`make_service_account(token_uri)` builds a throwaway service-account key (a fresh RSA key) whose `token_uri` is the
fake token endpoint, as the JSON key file Google issues looks.

`FakeGoogleTokenEndpoint` (`POST /token`) does what Google's does for a service account's JWT grant: the form must
carry `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an `assertion` that is an RS256 JWT signed by
the service account's key (checked with its public key), issued by its email, for Google's token audience, asking
for the cloud-platform scope, not expired. It answers `{"access_token", "expires_in", "token_type": "Bearer"}`
(`expires_in` is settable: a short one makes the gateway refresh on its next call), or 400 `invalid_grant`.

`FakeVertex` serves `POST /v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{method}`
from `tests/fixtures/providers/vertex_ai`: a queued reply first; then a bearer token the token endpoint did not
issue, or one revoked by the test → 401 `generate_content/unauthenticated.json`; a Claude body with a `model` or
without `"anthropic_version": "vertex-2023-10-16"` → 400 `raw_predict/invalid_request.json`; otherwise the good
answer of the method (`:generateContent`, `:streamGenerateContent?alt=sse`, `:rawPredict`, `:streamRawPredict`)."""

from __future__ import annotations

import base64
import itertools
import json
import time
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.loopback import LoopbackServer, RecordedRequest
from tests.fakes.replay_server import FIXTURES, ReplayServer, Reply, json_object

FIXTURE_DIR = FIXTURES / "vertex_ai"
PROJECT = "waypost-test"
LOCATION = "us-central1"
CLIENT_EMAIL = f"gateway@{PROJECT}.iam.gserviceaccount.com"
JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # google-auth's `aud`, whatever the token_uri
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
ANTHROPIC_VERSION = "vertex-2023-10-16"


class ServiceAccount:
    """A throwaway key: `json` is the key file's text, `public_key` what the token endpoint checks with."""

    def __init__(self, token_uri: str) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key = key.public_key()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self.json = json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "0123456789abcdef0123456789abcdef01234567",
                "private_key": pem,
                "client_email": CLIENT_EMAIL,
                "client_id": "109876543210987654321",
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": token_uri,
                "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
                "universe_domain": "googleapis.com",
            }
        )


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


class FakeGoogleTokenEndpoint(LoopbackServer):
    name = "fake Google token endpoint"

    def __init__(self) -> None:
        super().__init__()
        self.account: ServiceAccount | None = None  # set once started (the key names this server's URL)
        self.expires_in = 3599
        self.issued: list[str] = []
        self._numbers = itertools.count(1)

    @property
    def token_uri(self) -> str:
        return f"{self.origin}/token"

    def start(self) -> None:
        super().start()
        self.account = ServiceAccount(self.token_uri)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/token", self._token)

    async def _token(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        form = {name: values[0] for name, values in parse_qs(recorded.body.decode()).items()}
        if form.get("grant_type") != JWT_GRANT_TYPE:
            return web.json_response(
                {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}, status=400
            )
        if not self._valid_assertion(form.get("assertion", "")):
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, status=400
            )
        token = f"ya29.fake-access-token-{next(self._numbers)}"
        with self._lock:
            self.issued.append(token)
        return web.json_response({"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"})

    def _valid_assertion(self, assertion: str) -> bool:
        if self.account is None or assertion.count(".") != 2:
            return False
        header, payload, signature = assertion.split(".")
        try:
            self.account.public_key.verify(
                _b64decode(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, ValueError):
            return False
        claims: dict[str, Any] = json.loads(_b64decode(payload))
        return (
            json.loads(_b64decode(header)).get("alg") == "RS256"
            and claims.get("iss") == CLIENT_EMAIL
            and claims.get("aud") == GOOGLE_TOKEN_AUDIENCE
            and CLOUD_PLATFORM_SCOPE in str(claims.get("scope", "")).split()
            and int(claims.get("exp", 0)) > time.time()
        )


class FakeVertex(ReplayServer):
    name = "fake Vertex AI"

    def __init__(self, tokens: FakeGoogleTokenEndpoint) -> None:
        self.tokens = tokens
        self.revoked: set[str] = set()
        super().__init__(
            fixture_dir=FIXTURE_DIR,
            paths=["/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model_method}"],
            answer=self._answer_for,
        )

    @property
    def base_url(self) -> str:
        """The provider's `base_url`: the Vertex location of the project."""
        return f"{self.origin}/v1/projects/{PROJECT}/locations/{LOCATION}"

    def _answer_for(self, request: RecordedRequest) -> Reply:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens.issued or token in self.revoked:
            return Reply(401, "generate_content/unauthenticated.json")
        if "/publishers/anthropic/" in request.path:
            body = json_object(request.body) or {}
            if "model" in body or body.get("anthropic_version") != ANTHROPIC_VERSION:
                return Reply(400, "raw_predict/invalid_request.json")
            if request.path.endswith(":streamRawPredict"):
                return Reply(200, "stream_raw_predict/stream.sse")
            return Reply(200, "raw_predict/good.json")
        if request.path.endswith(":streamGenerateContent?alt=sse"):
            return Reply(200, "stream_generate_content/stream.sse")
        return Reply(200, "generate_content/good.json")
