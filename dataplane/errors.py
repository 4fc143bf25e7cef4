"""The gateway's error tree. Every refusal is a GatewayError subclass carrying its HTTP status, OpenAI error
type and code; `error_response` renders any of them as OpenAI error JSON, `anthropic_error_response` as Anthropic
error JSON (its type mapped from the status)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from starlette.responses import Response

_RETRYABLE_UPSTREAM_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class ErrorDetail(msgspec.Struct, frozen=True):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(msgspec.Struct, frozen=True):
    error: ErrorDetail


class AnthropicErrorDetail(msgspec.Struct, frozen=True):
    type: str
    message: str


class AnthropicErrorEnvelope(msgspec.Struct, frozen=True):
    error: AnthropicErrorDetail
    type: str = "error"


# Anthropic's documented error types by status (https://docs.anthropic.com/en/api/errors); other 4xx are
# invalid_request_error and other 5xx api_error, as Anthropic itself does
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_type(status: int) -> str:
    return _ANTHROPIC_ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


_envelope_encoder = msgspec.json.Encoder()


class GatewayError(Exception):
    """Root of every error the gateway answers with. Subclasses set the class attributes."""

    status: int = 500
    type: str = "api_error"
    code: str | None = "internal_error"
    retryable: bool = False
    default_message: str = "The gateway failed to handle the request."

    def __init__(self, message: str | None = None, *, param: str | None = None) -> None:
        self.message = message or self.default_message
        self.param = param
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        return {} if self.retryable else {"x-should-retry": "false"}

    def body(self) -> bytes:
        """The OpenAI error JSON, compact and on one line (it is also used as an SSE data line)."""
        detail = ErrorDetail(message=self.message, type=self.type, param=self.param, code=self.code)
        return _envelope_encoder.encode(ErrorEnvelope(error=detail))

    def anthropic_body(self) -> bytes:
        """The same refusal as Anthropic error JSON, for the Anthropic-protocol endpoints (`/v1/messages`)."""
        detail = AnthropicErrorDetail(type=anthropic_error_type(self.status), message=self.message)
        return _envelope_encoder.encode(AnthropicErrorEnvelope(error=detail))


class InternalError(GatewayError):
    """An unexpected failure; the message names the request id and nothing else."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"The gateway failed to handle the request (request id {request_id}).")


class InvalidApiKeyError(GatewayError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"
    default_message = "Invalid API key."


class ModelNotFoundError(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(f"The model `{model}` does not exist or you do not have access to it.", param="model")


class InvalidRequestError(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"
    default_message = "The request body is invalid."


class MalformedJsonError(InvalidRequestError):
    code = "invalid_json"
    default_message = "The request body is not valid JSON."


class InvalidParameterError(InvalidRequestError):
    code = "invalid_type"


class MissingParameterError(InvalidRequestError):
    code = "missing_required_parameter"


class RequestTooLargeError(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"
    default_message = "The request body is too large."


class ClientClosedError(GatewayError):
    """The client went away while its request was being read; nobody will see the answer, the log will."""

    status = 499
    type = "invalid_request_error"
    code = "client_closed_request"
    default_message = "The client closed the request."


class PathNotFoundError(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"
    default_message = "Unknown path."


class MethodNotAllowedError(GatewayError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"
    default_message = "Method not allowed."

    def __init__(self, allow: str | None = None) -> None:
        super().__init__()
        self.allow = allow

    def headers(self) -> dict[str, str]:
        headers = super().headers()
        if self.allow:
            headers["allow"] = self.allow
        return headers


class ConfigUnavailableError(GatewayError):
    """No configuration has been applied yet: never serve with an empty config."""

    status = 503
    code = "config_unavailable"
    retryable = True
    default_message = "The gateway has no configuration yet; try again shortly."


class UpstreamUnavailableError(GatewayError):
    status = 502
    code = "upstream_unavailable"
    retryable = True
    default_message = "The upstream provider could not be reached."


class UpstreamTimeoutError(GatewayError):
    status = 504
    code = "upstream_timeout"
    retryable = True
    default_message = "The upstream provider did not answer in time."


class NoHealthyTargetError(GatewayError):
    """Every target of the route has an open circuit; `retry_after` is when the first one lets a probe through."""

    status = 503
    code = "no_healthy_target"
    retryable = True
    default_message = "No healthy upstream target is available for this model; try again later."

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__()
        self.retry_after_seconds = retry_after_seconds

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "retry-after": str(self.retry_after_seconds)}


class RateLimitedError(GatewayError):
    """A rate limit has no room for this request (dataplane.ratelimit). The message names the limit; the headers
    are OpenAI's `x-ratelimit-*` and `retry-after`. Retryable: the window moves on."""

    status = 429
    code = "rate_limit_exceeded"
    retryable = True

    def __init__(self, message: str, *, kind: str, limit_headers: Mapping[str, str], retry_after_seconds: int) -> None:
        super().__init__(message)
        self.type = kind  # OpenAI's rate limit errors say "requests" or "tokens"
        self.limit_headers = dict(limit_headers)
        self.retry_after_seconds = retry_after_seconds

    def headers(self) -> dict[str, str]:
        return {**super().headers(), **self.limit_headers, "retry-after": str(self.retry_after_seconds)}


class UpstreamAuthError(GatewayError):
    """The provider refused the gateway's credentials; the client's key was fine."""

    status = 502
    code = "upstream_auth_error"
    default_message = "The upstream provider refused the gateway's credentials."


class UpstreamStatusError(GatewayError):
    """An upstream error without an OpenAI error body: its status is kept, the body is ours."""

    code = "upstream_error"

    def __init__(self, status: int) -> None:
        super().__init__(f"The upstream provider answered with HTTP {status}.")
        self.status = status
        self.retryable = status in _RETRYABLE_UPSTREAM_STATUSES


class _RelayedDetail(msgspec.Struct, frozen=True):
    message: str


class _RelayedEnvelope(msgspec.Struct, frozen=True):
    error: _RelayedDetail


_relayed_decoder = msgspec.json.Decoder(_RelayedEnvelope)


def _relayed_message(body: bytes) -> str | None:
    """The provider's own `error.message` of an OpenAI error body, for the clients of other protocols."""
    try:
        return _relayed_decoder.decode(body).error.message or None
    except msgspec.DecodeError:
        return None


class UpstreamRelayedError(GatewayError):
    """An upstream OpenAI error relayed with its status and its own (re-encoded, compact) body; its message (what
    an Anthropic client reads) is the provider's `error.message`."""

    code: str | None = "upstream_error"

    def __init__(self, status: int, body: bytes, *, code: str | None, retry_after: str | None = None) -> None:
        super().__init__(_relayed_message(body) or "The upstream provider refused the request.")
        self.status = status
        self.code = code
        self.retryable = status in _RETRYABLE_UPSTREAM_STATUSES
        self._body = body
        self._retry_after = retry_after

    def body(self) -> bytes:
        return self._body

    def headers(self) -> dict[str, str]:
        headers = super().headers()
        if self._retry_after is not None:
            headers["retry-after"] = self._retry_after
        return headers


def error_response(error: GatewayError, extra_headers: Mapping[str, str] | None = None) -> Response:
    headers = error.headers()
    if extra_headers:
        headers.update(extra_headers)
    return Response(error.body(), status_code=error.status, headers=headers, media_type="application/json")


def anthropic_error_response(error: GatewayError, extra_headers: Mapping[str, str] | None = None) -> Response:
    headers = error.headers()
    if extra_headers:
        headers.update(extra_headers)
    return Response(error.anthropic_body(), status_code=error.status, headers=headers, media_type="application/json")


class BudgetExceededError(GatewayError):
    """A hard budget has no room for this request's reservation (or its spend data is stale and its policy is
    closed). Names the budget; a retry cannot help before `retry_after_seconds` (the period's end)."""

    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"

    def __init__(self, message: str, *, budget_id: str, retry_after_seconds: int | None) -> None:
        super().__init__(message)
        self.budget_id = budget_id
        self.retry_after_seconds = retry_after_seconds

    def headers(self) -> dict[str, str]:
        headers = {**super().headers(), "x-waypost-budget-id": self.budget_id}
        if self.retry_after_seconds is not None:
            headers["retry-after"] = str(self.retry_after_seconds)
        return headers


class DeploymentUnpricedError(GatewayError):
    """A target of the route has no price and its deployment's policy refuses unpriced calls."""

    status = 403
    type = "invalid_request_error"
    code = "deployment_unpriced"

    def __init__(self, route: str) -> None:
        super().__init__(f"The model `{route}` has a deployment without a price, and it refuses unpriced calls.")
