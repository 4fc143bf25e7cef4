"""The log pipeline both planes use: structlog JSON lines with key material and credentials redacted in the
logger itself. It lives in `shared` because what it must redact follows the key format of the contract
(`shared.apikeys`)."""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import msgspec
import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

REDACTED = "[REDACTED]"
_SECRET_PATTERNS = (
    (re.compile(r"(?i)\bbearer\s+\S+"), f"Bearer {REDACTED}"),
    (re.compile(r"\bwp-[A-Za-z0-9_-]{6,}"), REDACTED),  # data-plane keys (shared.apikeys)
    (re.compile(r"\bwpa_[A-Za-z0-9_-]{8,}"), REDACTED),  # admin tokens
    (re.compile(r"\bsk-[A-Za-z0-9_-]{12,}"), REDACTED),
    (re.compile(r"://[^/@\s]+@"), f"://{REDACTED}@"),  # credentials inside URLs (nats://user:pass@host)
)
# field names whose values are secrets wherever they appear (log lines, audit rows)
_SECRET_FIELDS = frozenset(
    {
        "authorization", "api_key", "x-api-key", "secret", "token", "password",
        "key", "secret_hash", "credentials", "credentials_sealed",
    }
)  # fmt: skip
# a superset of what _SECRET_PATTERNS match: a line without any of these needs no redaction pass
_SECRET_HINT = re.compile(rb"(?i)bearer|wpa?[-_]|sk-|://")
_log_encoder = msgspec.json.Encoder(enc_hook=repr)


def redact_text(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """Mask secret-named fields and secret-looking strings anywhere inside `value`."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in _SECRET_FIELDS else redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask API keys and bearer tokens in every field of every line."""
    redacted: EventDict = redact_value(event_dict)
    return redacted


def _serialize(obj: Any, **_: Any) -> str:
    return _log_encoder.encode(obj).decode()


def log_processors() -> list[Processor]:
    """Level, UTC timestamp, exception text, then redaction last before rendering one JSON line."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
        structlog.processors.JSONRenderer(serializer=_serialize),
    ]


def _level_number(level: str) -> int:
    return logging.getLevelNamesMapping().get(level.upper(), logging.INFO)


def make_logger(level: str, *, stream: TextIO | None = None) -> FilteringBoundLogger:
    """A logger of JSON lines filtered at `level`. Without a `stream` it writes to whatever `sys.stdout` is at
    the time of each line."""
    logger: FilteringBoundLogger = structlog.wrap_logger(
        structlog.PrintLogger(stream),
        processors=log_processors(),
        wrapper_class=structlog.make_filtering_bound_logger(_level_number(level)),
        cache_logger_on_first_use=True,
    )
    return logger


def configure_default_logging(level: str) -> None:
    """Route `structlog.get_logger()` through the same pipeline (for modules that log without a logger passed in)."""
    structlog.configure(
        processors=log_processors(),
        wrapper_class=structlog.make_filtering_bound_logger(_level_number(level)),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=True,
    )


class LineWriter:
    """Writes one event as one JSON line encoded by msgspec straight from a Struct, to the same place, with the same
    level filter, `event`/`level`/`timestamp` fields and redaction as `make_logger`'s lines. For the hot path's
    canonical request line, where structlog's processor chain and the redaction of every field cost tens of
    microseconds: here a line is redacted only if a secret-looking substring appears in it at all."""

    def __init__(self, level: str, *, stream: TextIO | None = None) -> None:
        self._level = _level_number(level)
        self._stream = stream  # None: whatever sys.stdout is at the time of each line, as structlog.PrintLogger

    def info(self, event: str, fields: msgspec.Struct) -> None:
        if self._level > logging.INFO:
            return
        line = _log_encoder.encode(fields)
        if _SECRET_HINT.search(line) is not None:
            line = _log_encoder.encode(redact_value(msgspec.structs.asdict(fields)))
        head = _log_encoder.encode({"event": event, "level": "info", "timestamp": datetime.now(UTC)})
        text = (head[:-1] + b"," + line[1:]).decode() if len(line) > 2 else head.decode()
        stream = self._stream or sys.stdout
        stream.write(text + "\n")
        stream.flush()
