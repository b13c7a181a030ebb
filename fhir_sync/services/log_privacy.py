"""Keeping patient data out of the logs, whoever writes the record.

An exception's message may hold patient data: a database error carries SQLAlchemy's
`[parameters: ...]` and PostgreSQL's `DETAIL: Key (patient_id)=(...)` or `Failing row
contains (...)`, a mapping error a value from the request. The app's own error handler logs
only the exception's type, a reference and the stack; but uvicorn ("Exception in ASGI
application"), the background workers' `log.exception` and any library log the exception
itself. So every handler the server's processes log through gets `RedactExceptions`, which
replaces a record's exception by its type and stack, without message or chained causes, and
SQLAlchemy is told never to put statement parameters into its messages (`hide_parameters`,
store/database.py) and kept at WARNING so that its statement log cannot be switched on by a
stray level.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Final

_MARK: Final = "_fhir_sync_redacts"
QUIET_LOGGERS: Final = ("sqlalchemy", "uvicorn.access")


class RedactExceptions(logging.Filter):
    """Turns a record's exception into `<type> (message withheld)` and the stack frames."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        if exc_info and exc_info[1] is not None:
            error = exc_info[1]
            stack = "".join(traceback.format_tb(error.__traceback__))
            record.msg = f"{record.getMessage()}: {type(error).__name__} (message withheld)"
            record.msg += f"\n{stack}" if stack else ""
            record.args = None
            record.exc_info = None
            record.exc_text = None
        if record.stack_info:
            record.stack_info = None
        return True


def redact(handler: logging.Handler) -> None:
    if not getattr(handler, _MARK, False):
        handler.addFilter(RedactExceptions())
        setattr(handler, _MARK, True)


def protect_logs() -> None:
    """Install the filter on every handler there is now (the root's, uvicorn's, Python's
    last-resort one) and quiet SQLAlchemy. Idempotent; called by the app and the workers."""
    loggers = [logging.getLogger(), *map(logging.getLogger, ("uvicorn", "uvicorn.error"))]
    for logger in loggers:
        for handler in logger.handlers:
            redact(handler)
    if logging.lastResort is not None:
        redact(logging.lastResort)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging as `fhir-sync serve` configures it in every process: its usual format
    on stderr, the filter on the handler, the root logger (the app's own records) through the
    same handler at WARNING, and no access log (request lines name patients in URLs)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactExceptions}},
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
                "use_colors": None,
            },
        },
        "handlers": {
            "default": {
                "formatter": "default",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "filters": ["redact"],
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "sqlalchemy": {"level": "WARNING"},
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
    }
