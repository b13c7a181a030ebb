"""Keeps query strings (patient ids, identifiers) out of httpx's own request log.

httpx logs every request at INFO with the full URL. An application that turns INFO on for
everything would write ``?patient=123`` to its logs; this filter strips the query from that
record's URL argument and leaves everything else alone.
"""

from __future__ import annotations

import logging

import httpx


class QueryRedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                a.copy_with(query=None, fragment=None) if isinstance(a, httpx.URL) else a
                for a in record.args
            )
        return True


def install_httpx_log_redaction() -> None:
    """Idempotent: attaches the filter to the ``httpx`` logger once."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, QueryRedactingFilter) for f in logger.filters):
        logger.addFilter(QueryRedactingFilter())
