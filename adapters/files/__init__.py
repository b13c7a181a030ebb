"""Reading FHIR resources from local files (Bundles, NDJSON, Bulk Data exports) and writing
plans as files."""

from adapters.files.reader import (
    InputError,
    RawResource,
    discover,
    is_ndjson,
    open_input,
    parse_line,
    read_resources,
)
from adapters.files.writer import write_json_file, write_ndjson

__all__ = [
    "InputError",
    "RawResource",
    "discover",
    "is_ndjson",
    "open_input",
    "parse_line",
    "read_resources",
    "write_json_file",
    "write_ndjson",
]
