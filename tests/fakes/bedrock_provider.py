"""A fake Amazon Bedrock Runtime on loopback: Converse and ConverseStream, replaying
`tests/fixtures/providers/bedrock`.

Every request's AWS Signature Version 4 is verified first, by recomputing it with botocore from what the fake
received (method, raw path and query, the signed headers, the body) and the fake's own secret: an unknown access
key or a wrong session token → 403 UnrecognizedClientException, any other mismatch (secret, region, service,
body, headers) → 403 InvalidSignatureException, as Bedrock answers them. Then a queued reply, if any; otherwise a
body that is not a JSON object → 400 ValidationException; `/converse-stream` → `converse-stream/stream.json`;
`/converse` → `converse/good.json`.

Errors carry their type in the `x-amzn-ErrorType` header (`error_reply`). ConverseStream fixtures are JSON lists
of messages (`{"event": <event type>, "payload": {...}}` or `{"exception": <exception member>, "payload": {...}}`)
that the fake frames as `application/vnd.amazon.eventstream` (`encode_frame`), each frame written in two pieces so
the client must reassemble frames across reads."""

from __future__ import annotations

import binascii
import hmac
import re
import struct

import msgspec
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.fakes.loopback import RecordedRequest
from tests.fakes.replay_server import FIXTURES, JSON_CONTENT_TYPE, ReplayServer, Reply, json_object

FIXTURE_DIR = FIXTURES / "bedrock"
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example key pair
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-west-2"
EVENT_STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
# Bedrock's error types → (status, fixture)
ERRORS: dict[str, tuple[int, str]] = {
    "ValidationException": (400, "converse/validation_exception.json"),
    "AccessDeniedException": (403, "converse/access_denied_exception.json"),
    "InvalidSignatureException": (403, "converse/invalid_signature_exception.json"),
    "UnrecognizedClientException": (403, "converse/unrecognized_client_exception.json"),
    "ResourceNotFoundException": (404, "converse/resource_not_found_exception.json"),
    "ModelTimeoutException": (408, "converse/model_timeout_exception.json"),
    "ThrottlingException": (429, "converse/throttling_exception.json"),
    "ModelNotReadyException": (429, "converse/model_not_ready_exception.json"),
    "InternalServerException": (500, "converse/internal_server_exception.json"),
    "ServiceUnavailableException": (503, "converse/service_unavailable_exception.json"),
}
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})"
)


class StreamMessage(msgspec.Struct, frozen=True):
    payload: dict[str, object]
    event: str | None = None
    exception: str | None = None


_stream_decoder = msgspec.json.Decoder(list[StreamMessage])


def error_reply(error_type: str, headers: dict[str, str] | None = None) -> Reply:
    """Bedrock's answer for an error of this type, with its type in `x-amzn-ErrorType` as Bedrock sends it."""
    status, fixture = ERRORS[error_type]
    type_header = f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    return Reply(status, fixture, {"x-amzn-ErrorType": type_header, **(headers or {})})


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event stream message: prelude (total and headers lengths), its CRC32, string headers (type 7),
    the payload, and the CRC32 of all that precedes."""
    encoded = b"".join(
        struct.pack("!B", len(name.encode()))
        + name.encode()
        + b"\x07"
        + struct.pack("!H", len(value.encode()))
        + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack("!II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack("!I", binascii.crc32(prelude)) + encoded + payload
    return message + struct.pack("!I", binascii.crc32(message))


def stream_frames(fixture: bytes) -> list[bytes]:
    """The frames of a ConverseStream fixture, as Bedrock sends them."""
    frames = []
    for message in _stream_decoder.decode(fixture):
        payload = msgspec.json.encode(message.payload)
        if message.exception is not None:
            headers = {":message-type": "exception", ":exception-type": message.exception}
        else:
            headers = {":event-type": message.event or "", ":message-type": "event"}
        frames.append(encode_frame({**headers, ":content-type": JSON_CONTENT_TYPE}, payload))
    return frames


class FakeBedrock(ReplayServer):
    def __init__(
        self,
        *,
        access_key_id: str = ACCESS_KEY_ID,
        secret_access_key: str = SECRET_ACCESS_KEY,
        session_token: str | None = None,
        region: str = REGION,
    ) -> None:
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.session_token = session_token
        self.region = region
        self.refused: list[str] = []  # the error type of each request refused for its signature
        super().__init__(
            fixture_dir=FIXTURE_DIR,
            paths=["/model/{model}/converse", "/model/{model}/converse-stream"],
            answer=self._answer_for,
        )

    @property
    def base_url(self) -> str:
        """The provider's base URL: a loopback host says nothing of the region, so the query does."""
        return f"{self.origin}?region={self.region}"

    def _answer_for(self, request: RecordedRequest) -> Reply:
        if json_object(request.body) is None:
            return error_reply("ValidationException")
        if request.path.endswith("/converse-stream"):
            return Reply(200, "converse-stream/stream.json")
        return Reply(200, "converse/good.json")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        refusal = self.signature_refusal(request, recorded.body)
        if refusal is not None:
            self.refused.append(refusal)
            return await self._send(request, error_reply(refusal))
        with self._lock:
            reply = self._script.popleft() if self._script else None
        return await self._send(request, reply or self._answer(recorded))

    def signature_refusal(self, request: web.Request, body: bytes) -> str | None:
        """None if the request is signed with this fake's credentials, else the error type Bedrock answers."""
        match = _AUTHORIZATION.fullmatch(request.headers.get("Authorization", ""))
        if match is None:
            return "InvalidSignatureException"
        if match["key"] != self.access_key_id:
            return "UnrecognizedClientException"
        if self.session_token is not None and request.headers.get("X-Amz-Security-Token") != self.session_token:
            return "UnrecognizedClientException"
        timestamp = request.headers.get("X-Amz-Date", "")
        signed = match["signed"].split(";")
        if not timestamp.startswith(match["date"]) or "host" not in signed or "x-amz-date" not in signed:
            return "InvalidSignatureException"
        if any(name not in request.headers for name in signed):
            return "InvalidSignatureException"
        headers = {name: request.headers[name] for name in signed}
        signed_request = AWSRequest(
            method=request.method, url=f"http://{request.host}{request.raw_path}", data=body, headers=headers
        )
        signed_request.context["timestamp"] = timestamp
        signer = SigV4Auth(Credentials(self.access_key_id, self.secret_access_key), "bedrock", self.region)
        expected = signer.signature(
            signer.string_to_sign(signed_request, signer.canonical_request(signed_request)), signed_request
        )
        scope_ok = match["region"] == self.region and match["service"] == "bedrock"
        return None if scope_ok and hmac.compare_digest(expected, match["signature"]) else "InvalidSignatureException"

    async def _send(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        headers = {"x-amzn-RequestId": "b8e2a3a8-3f4c-4b5e-9d47-2a6f5c1e0d9b", **reply.headers}
        if not (reply.status == 200 and reply.fixture.startswith("converse-stream/")):
            body = self.fixture(reply.fixture)
            return web.Response(status=reply.status, body=body, headers={"Content-Type": JSON_CONTENT_TYPE, **headers})
        response = web.StreamResponse(status=200, headers={"Content-Type": EVENT_STREAM_CONTENT_TYPE, **headers})
        await response.prepare(request)
        try:
            for frame in stream_frames(self.fixture(reply.fixture)):
                middle = len(frame) // 2
                await response.write(frame[:middle])
                await response.write(frame[middle:])
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client left mid-stream
        return response
