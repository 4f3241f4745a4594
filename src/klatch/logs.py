"""Logging set-up for ``klatch serve``: secrets never reach the log, and every
line can carry the id of the request it was written for.

Browsers cannot put headers on a WebSocket, so the chat socket carries its
tracking key and session token in the query string, and uvicorn logs the path of
every socket it accepts or rejects. ``RedactSecrets`` blanks those values (and
any ``key``/``session``/``token`` query parameter in any log line) before a
record is written.

``KLATCH_LOG_FORMAT=json`` writes one JSON object a line (``time``, ``level``,
``logger``, ``message``, ``requestId``; access lines add ``client``, ``method``,
``path``, ``status``; failures ``exception``) for a log collector; ``text``
(the default) is uvicorn's format. The request id is the one the ``Observe``
middleware gives each request (``X-Request-ID``); ``null`` outside requests.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# The id of the request (or socket) being handled in this task, set by
# ``klatch.http.middleware.Observe``.
REQUEST_ID: ContextVar[str | None] = ContextVar("klatch_request_id", default=None)
LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "klatch")

_SECRET_PARAM = re.compile(r"(?i)([?&](?:key|session|token|jwt)=)[^&\s\"']+")


def redact(text: str) -> str:
    return _SECRET_PARAM.sub(r"\1[redacted]", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


class WithRequestId(logging.Filter):
    """Puts the current request's id on every record (``record.request_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "requestId": getattr(record, "request_id", REQUEST_ID.get()),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            if len(record.args) == 5:  # uvicorn's (client, method, path, version, status)
                client, method, path, _, status = record.args
                line.update(client=client, method=method, path=path, status=status)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def log_config(level: str, log_format: str) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` for ``klatch serve`` (uvicorn's
    ``log_config``): uvicorn's and Klatch's loggers at ``level``, in ``log_format``
    (``text`` or ``json``), secrets redacted, request ids attached."""
    filters = ["redact", "request_id"]
    if log_format == "json":
        formatters: dict[str, Any] = {
            "default": {"()": JsonFormatter},
            "access": {"()": JsonFormatter},
        }
    else:
        formatters = {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
        }
    stream = {"class": "logging.StreamHandler", "filters": filters}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}, "request_id": {"()": WithRequestId}},
        "formatters": formatters,
        "handlers": {
            "default": {**stream, "formatter": "default", "stream": "ext://sys.stderr"},
            "access": {**stream, "formatter": "access", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            "klatch": {"handlers": ["default"], "level": level.upper(), "propagate": False},
        },
    }


def install_redaction() -> None:
    """Attach the filter to the handlers uvicorn and Klatch log through."""
    redacting = RedactSecrets()
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.addFilter(redacting)
        for handler in logger.handlers:
            handler.addFilter(redacting)
