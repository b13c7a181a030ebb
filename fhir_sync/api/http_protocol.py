"""uvicorn's HTTP protocol with its one non-FHIR answer replaced.

A request uvicorn's parser cannot read (a request line or headers of tens of kilobytes, bytes
that are not HTTP) never reaches the app: uvicorn answers it itself, in plain text. This
protocol answers the same 400 as an OperationOutcome, so that every answer of the server is
FHIR. The connection is still closed afterwards: the parser cannot tell where the next request
would start.
"""

from __future__ import annotations

from typing import Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fhir_sync.api.fhirjson import FHIR_JSON, dumps
from mappings.outcome import operation_outcome

_BODY: Final = dumps(
    operation_outcome(
        "error",
        "invalid",
        "the request could not be read as HTTP (a request line or headers too long, or malformed)",
    )
)


class FhirHttpProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + FHIR_JSON.encode() + b"\r\n",
                b"content-length: " + str(len(_BODY)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                _BODY,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
