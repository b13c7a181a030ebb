"""The one way to route a FHIR operation: by its name in the operation registry
(mappings/operations.py), which gives the path and method, so that a route cannot answer an
operation the CapabilityStatement, the OpenAPI document and the audit trail do not know."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from mappings.operations import OPERATIONS


def operation_route(router: APIRouter, operation_name: str, **options: Any) -> Callable[[Any], Any]:
    operation = OPERATIONS[operation_name]
    return router.api_route(operation.path, methods=[operation.method], **options)
