"""``TESSERRA_LOG_FORMAT=json``: one JSON object per line, for log shippers. Each line carries the time
(UTC, ISO 8601), level, logger, message, and the request's id, tenant, principal and route template
(``RequestIdLogFilter`` fills them in); access lines add the method, status and duration. Nothing else
of the request is logged (no header, body, query or raw path), so no credential can reach a line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import msgspec

_CONTEXT = ("request_id", "tenant_id", "principal_id", "route")
_ACCESS = ("method", "status", "duration_ms")
_encode = msgspec.json.Encoder().encode


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT:
            value = record.__dict__.get(name)
            fields[name] = None if value == "-" else value
        for name in _ACCESS:
            if name in record.__dict__:
                fields[name] = record.__dict__[name]
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return _encode(fields).decode()
