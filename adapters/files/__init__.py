"""Reading FHIR resources from local files (Bundles, NDJSON, Bulk Data exports) and writing
plans as files."""

from adapters.files.reader import (
    CORRUPT_GZIP,
    InputError,
    Inputs,
    RawResource,
    corrupt_gzip_message,
    discover,
    find_inputs,
    gzip_problem,
    is_ndjson,
    open_input,
    parse_line,
    read_resources,
)
from adapters.files.writer import write_json_file, write_ndjson

__all__ = [
    "CORRUPT_GZIP",
    "InputError",
    "Inputs",
    "RawResource",
    "corrupt_gzip_message",
    "discover",
    "find_inputs",
    "gzip_problem",
    "is_ndjson",
    "open_input",
    "parse_line",
    "read_resources",
    "write_json_file",
    "write_ndjson",
]
