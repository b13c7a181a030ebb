"""The OpenAPI document (`/openapi.json`), made to say what the server really answers.

FastAPI derives the document from route signatures, which cannot know that the routes answer
FHIR JSON (`application/fhir+json`), that every error is an OperationOutcome (its 422
validation-error schema is never sent: a malformed request is a 400 here), or which search
parameters a route reads from the query string. This completes the derived document from the
tables the routes themselves use (`search_params.py`, the export parameters), so a schema
check (schemathesis, in the tests) holds the server to what it promises, and the promise
cannot drift from the code.

Routes that document their own responses (FastAPI's `responses=`) keep them; every `/fhir`
route gets the OperationOutcome errors of the auth seam (401, 403).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from fhir_sync.api.export_request import EXPORT_TYPES, NDJSON_FORMATS
from fhir_sync.api.fhirjson import FHIR_JSON
from fhir_sync.api.openapi_schemas import COMPONENTS, ID_PATTERN, JsonSchema, ref
from fhir_sync.api.search_params import INCLUDES, REVINCLUDES, SEARCH_PARAMS, SearchParam
from fhir_sync.services.server_settings import ServerSettings
from mappings.operations import operation_at

FHIR_NDJSON: Final = "application/fhir+ndjson"
_ERROR_TEXT: Final = {
    400: "Malformed request or unsupported parameter",
    401: "Missing, expired or forged access token",
    403: "The token lacks the scope",
    404: "Unknown resource, or one the caller may not see",
    409: "Conflicts with the enrollment's state",
    412: "If-Match names an older version",
    413: "The body is larger than FHIR_SYNC_MAX_BODY_BYTES",
    405: "The resource is not updated through the API",
    415: "The body is not FHIR JSON",
    422: "A business rule refuses the request",
    428: "If-Match is required",
    500: "Internal error (the outcome carries only a reference)",
    501: "Not available on this server",
    502: "A live FHIR endpoint failed",
    504: "A live FHIR endpoint timed out",
}
_DATETIME: Final = (
    r"[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}"
    r"(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?"
)
_DATE: Final = f"(eq|ne|gt|lt|ge|le)?{_DATETIME}"
_ID: Final = ID_PATTERN.strip("^$")
# Edges included: the last day of the calendar once made a 500 (its range overflowed).
_DATE_EXAMPLES: Final = {
    "from a day": {"value": "ge2026-11-22"},
    "the last day": {"value": "9999-12-31"},
    "an instant with an offset": {"value": "lt0001-01-01T00:00:00+14:00"},
}
_SEARCH: Final = re.compile(r"^/fhir/([A-Za-z]+)$")
_READ: Final = re.compile(r"^/fhir/([A-Za-z]+)/\{[a-z_]+\}$")


@dataclass(frozen=True, slots=True)
class RouteDoc:
    """What one operation answers: success responses (status -> OpenAPI response object),
    the error statuses it may give, and what it reads besides its signature."""

    success: dict[str, Any]
    errors: tuple[int, ...] = ()
    query: tuple[dict[str, Any], ...] = ()
    headers: tuple[dict[str, Any], ...] = ()
    body: dict[str, Any] | None = None
    id_params: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def docs_url(settings: ServerSettings, path: str) -> str | None:
    """`path` (of `/openapi.json`, `/docs`, `/redoc`) when `settings.api_docs`, else None,
    which FastAPI takes as not to serve it: they need no token and show a caller every route
    and parameter. The document is built either way (`app.openapi()`, for the schema tests)."""
    return path if settings.api_docs else None


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document instead of FastAPI's derived one."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            derived = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = complete(derived)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(COMPONENTS)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            _complete_operation(path, method.upper(), operation)
    return document


def _complete_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's validation error: never sent (a 400 instead)
    doc = route_doc(path, method)
    if doc is None:
        if path.startswith("/fhir/"):
            if _derived_default("200", responses.get("200", {})):
                responses.update(_fhir(200, "A FHIR resource", "Resource"))
            _add_errors(responses, (400, 401, 403, 404))
        return
    declared = {code: r for code, r in responses.items() if not _derived_default(code, r)}
    responses.clear()
    responses.update(doc.success)
    responses.update(declared)
    _add_errors(responses, doc.errors)
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    for parameter in parameters:
        if parameter["in"] == "path" and doc.id_params:
            parameter["schema"] = {"type": "string", "pattern": ID_PATTERN}
    known = {(p["in"], p["name"].lower()) for p in parameters}
    for parameter in doc.headers:
        key = ("header", parameter["name"].lower())
        parameters[:] = [p for p in parameters if (p["in"], p["name"].lower()) != key]
        parameters.append(parameter)
    parameters.extend(p for p in doc.query if ("query", p["name"].lower()) not in known)
    if doc.body is not None:
        operation["requestBody"] = doc.body
    operation.update(doc.extra)


_CYCLE_OPERATIONS: Final = frozenset({"check-in", "record-contact", "pickup", "worklist"})


def route_doc(path: str, method: str) -> RouteDoc | None:
    """The documentation of a known route; None for routes this module does not describe."""
    if path == "/fhir/metadata":
        return RouteDoc(_fhir(200, "The CapabilityStatement", "CapabilityStatement"))
    if path == "/.well-known/smart-configuration":
        return RouteDoc(_json(200, "SMART discovery", ref("SmartConfiguration")))
    operation = operation_at(path)
    if operation is not None and operation.name == "export":
        return _export_kick_off()
    if path == "/fhir/bulk-status/{job_id}" and method == "GET":
        return _export_status()
    if path == "/fhir/bulk-status/{job_id}" and method == "DELETE":
        return RouteDoc(_fhir(202, "The job and its files are deleted"), errors=(401, 403, 404))
    if path == "/fhir/bulk-files/{job_id}/{file_name}":
        success = {"200": {"description": "NDJSON", "content": {FHIR_NDJSON: _HEADER}}}
        return RouteDoc(success, errors=(401, 403, 404), id_params=False)
    if operation is not None and operation.name in _CYCLE_OPERATIONS:
        return RouteDoc(
            _fhir(200, "What was recorded, or the day's worklist", "Parameters"),
            errors=(400, 401, 403, 404, 409, 412, 415, 422),
            body=None
            if method == "GET"
            else {"required": True, "content": {FHIR_JSON: {"schema": ref("Resource")}}},
        )
    if operation is not None and operation.resource_type == "Patient" and method == "POST":
        return RouteDoc(
            _fhir(200, "The patient's plan", "Bundle"),
            errors=(400, 401, 403, 404, 409, 412, 413, 415, 422, 501, 502, 504),
            body={"required": False, "content": {FHIR_JSON: {"schema": ref("Parameters")}}},
        )
    if path == "/auth/token" and method == "POST":
        return _token_endpoint()
    if path == "/notifications/subscription" and method == "POST":
        return RouteDoc(
            _fhir(200, "Received (an informational OperationOutcome)"),
            errors=(400, 401, 403),
            body={"required": True, "content": {FHIR_JSON: {"schema": ref("Bundle")}}},
        )
    search = _SEARCH.match(path)
    if search and method == "GET":
        kind = search.group(1)
        query = tuple(search_parameters(kind)) if kind in SEARCH_PARAMS else ()
        return RouteDoc(
            _fhir(200, "A searchset Bundle", "Bundle"),
            errors=(400, 401, 403),
            query=query,
            headers=(_PREFER_STRICT,),
        )
    read = _READ.match(path)
    if read and method == "GET":
        success = _fhir(200, "The resource as stored", "Resource")
        headers: tuple[dict[str, Any], ...] = ()
        if read.group(1) in SEARCH_PARAMS and read.group(1) != "Group":
            success["200"]["headers"] = {"ETag": _HEADER, "Last-Modified": _HEADER}
            success["304"] = {"description": "Not modified (If-None-Match)"}
            headers = (_IF_NONE_MATCH,)
        return RouteDoc(success, errors=(401, 403, 404), headers=headers)
    if read and method == "PUT":  # a preparation Task's state (api/task_routes.py)
        success = _fhir(200, "The Task as now stored", "Resource")
        success["200"]["headers"] = {"ETag": _HEADER, "Last-Modified": _HEADER}
        return RouteDoc(
            success,
            errors=(400, 401, 403, 404, 405, 409, 412, 415, 422, 428),
            headers=(_IF_MATCH,),
            body={"required": True, "content": {FHIR_JSON: {"schema": ref("Resource")}}},
        )
    return None


def _token_endpoint() -> RouteDoc:
    """OAuth, not FHIR: RFC 6749 JSON answers and errors (invalid_client is a 401)."""
    token = {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in", "scope"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"enum": ["bearer", "Bearer"]},
            "expires_in": {"type": "integer", "minimum": 1},
            "scope": {"type": "string"},
        },
    }
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    }
    success = _json(200, "An access token", token)
    success.update(_json(400, "invalid_request, unsupported_grant_type, invalid_scope", error))
    success.update(_json(401, "invalid_client", error))
    form = {
        "type": "object",
        "properties": {
            name: {"type": "string"}
            for name in ("grant_type", "scope", "client_assertion_type", "client_assertion")
        },
    }
    body = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": form}}}
    return RouteDoc(success, body=body)


def search_parameters(kind: str) -> Iterable[dict[str, Any]]:
    """The query parameters of a search, with the values the parser accepts."""
    for param in SEARCH_PARAMS[kind]:
        parameter = _query(param.name, _value_schema(param), param.documentation)
        if param.type == "date":
            parameter["examples"] = _DATE_EXAMPLES
        yield parameter
    yield _query("_count", {"type": "integer", "minimum": 0}, "Page size (at most 1000).")
    yield _query("_summary", {"enum": ["count", "false"]}, "count: the total only.")
    yield _query("_cursor", {"type": "string", "pattern": ID_PATTERN}, "Paging state.")
    includes = [f"{source}:{param}" for (source, param) in INCLUDES if source == kind]
    if includes:
        yield _query("_include", {"enum": includes}, "Add the referenced resources.")
    revincludes = [
        f"{src}:{param}" for (src, param), target in REVINCLUDES.items() if target == kind
    ]
    if revincludes:
        yield _query("_revinclude", {"enum": revincludes}, "Add the referring resources.")


def _value_schema(param: SearchParam) -> JsonSchema:
    if param.type == "date":
        return {"type": "string", "pattern": _alternatives(_DATE)}
    if param.type == "reference":
        return {"type": "string", "pattern": _alternatives(f"({param.reference_type}/)?{_ID}")}
    return {"type": "string", "minLength": 1}


def _alternatives(one: str) -> str:
    return f"^{one}(,{one})*$"


def _export_kick_off() -> RouteDoc:
    types = "|".join(EXPORT_TYPES)
    success = _fhir(202, "Started; poll the Content-Location", "OperationOutcome")
    success["202"]["headers"] = {"Content-Location": {**_HEADER, "required": True}}
    prefer = {
        "name": "prefer",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "pattern": r"^respond-async(, ?handling=(strict|lenient))?$"},
    }
    return RouteDoc(
        success,
        errors=(400, 401, 403, 404),
        headers=(prefer,),
        query=(
            _query("_type", {"type": "string", "pattern": _alternatives(f"({types})")}, "Types."),
            _query("_since", {"type": "string", "pattern": f"^{_DATETIME}$"}, "Changed since."),
            _query("_outputFormat", {"enum": sorted(NDJSON_FORMATS)}, "NDJSON only."),
        ),
    )


def _export_status() -> RouteDoc:
    success = _json(200, "The manifest", ref("ExportManifest"))
    success["200"]["headers"] = {"Expires": _HEADER}
    success["202"] = {
        "description": "In progress",
        "headers": {
            "X-Progress": {**_HEADER, "required": True},
            "Retry-After": {"schema": {"type": "integer", "minimum": 0}, "required": True},
        },
    }
    return RouteDoc(success, errors=(401, 403, 404, 500))


# A header, or the NDJSON files' body: a string.
_HEADER: Final[dict[str, Any]] = {"schema": {"type": "string"}}


def _optional_header(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "description": description, **_HEADER}


# Read by the routes from the request (cheaper than FastAPI parameters), so declared here.
_PREFER_STRICT: Final = _optional_header(
    "prefer", "handling=strict: unknown search parameters are a 400"
)
_IF_NONE_MATCH: Final = _optional_header("if-none-match", 'W/"<versionId>": 304 when unchanged')
_IF_MATCH: Final = {
    **_optional_header("if-match", 'W/"<versionId>" the update is made on: 412 when it changed'),
    "required": True,
}


def _query(name: str, schema: JsonSchema, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _fhir(status: int, description: str, schema: str = "OperationOutcome") -> dict[str, Any]:
    return {
        str(status): {"description": description, "content": {FHIR_JSON: {"schema": ref(schema)}}}
    }


def _json(status: int, description: str, schema: JsonSchema) -> dict[str, Any]:
    return {
        str(status): {
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


def _add_errors(responses: dict[str, Any], statuses: Iterable[int]) -> None:
    for status in statuses:
        response: dict[str, Any] = {
            "description": _ERROR_TEXT.get(status, "Error"),
            "content": {FHIR_JSON: {"schema": ref("OperationOutcome")}},
        }
        if status == 401:
            response["headers"] = {"WWW-Authenticate": _HEADER}
        responses.setdefault(str(status), response)


def _derived_default(code: str, response: dict[str, Any]) -> bool:
    """FastAPI's placeholder for a route returning a bare Response."""
    return code == "200" and response.get("description") == "Successful Response"
