"""The one exception the mappings raise for bad input.

Callers turn it into an OperationOutcome naming the file, line and resource, so it carries
a FHIRPath-like location and an IssueType code, and its message never holds patient data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

ISSUE_CODES = frozenset(
    {"invalid", "structure", "required", "value", "invariant", "code-invalid", "not-supported"}
)


class MappingError(ValueError):
    """A resource cannot be mapped: `expression` says where, `code` is an R4 IssueType."""

    message: str
    expression: str
    code: str

    def __init__(self, message: str, expression: str, code: str = "invalid") -> None:
        # All three go to args so that the error survives pickling across processes.
        super().__init__(message, expression, code)
        self.message = message
        self.expression = expression
        self.code = code

    def under(self, prefix: str) -> MappingError:
        """The same error inside `prefix`: nested mappers raise paths relative to the element
        they map (starting with "."), and the caller that knows the element's index adds it.
        Building paths only when something fails keeps the success path free of formatting.
        """
        return MappingError(self.message, prefix + self.expression, self.code)

    def __str__(self) -> str:
        return f"{self.expression}: {self.message}"


def rooted_at(resource_type: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A resource mapper whose MappingErrors carry the path from the resource's type down.

    The nested mappers build paths relative to the element they map; the resource's own
    mapper is the one place that knows the root, so it is added there, once, on failure.
    """

    def wrap(mapper: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(mapper)
        def mapped(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return mapper(*args, **kwargs)
            except MappingError as error:
                raise error.under(resource_type) from None

        return mapped

    return wrap
