"""Logging set-up for ``klatch serve``: secrets never reach the log.

Browsers cannot put headers on a WebSocket, so the chat socket carries its
tracking key and session token in the query string, and uvicorn logs the path of
every socket it accepts or rejects. This filter blanks those values (and any
``key``/``session``/``token`` query parameter in any log line) before a record is
written.
"""

from __future__ import annotations

import logging
import re

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


def install_redaction() -> None:
    """Attach the filter to the handlers uvicorn and Klatch log through."""
    redacting = RedactSecrets()
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "klatch"):
        logger = logging.getLogger(name)
        logger.addFilter(redacting)
        for handler in logger.handlers:
            handler.addFilter(redacting)
