"""The file adapter: every input shape a user may hand `fhir-sync plan`, and bad ones."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from adapters.files import InputError, RawResource, discover, read_resources

MR = {"resourceType": "MedicationRequest", "id": "a"}
MD = {"resourceType": "MedicationDispense", "id": "b"}


def _read(path: Path) -> list[RawResource | InputError]:
    return list(read_resources(path))


def test_ndjson_lines_blank_lines_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson"
    path.write_bytes(orjson.dumps(MR) + b"\n\n{broken\n[1, 2]\n{}\n" + orjson.dumps(MD) + b"\n")
    got = _read(path)
    assert [type(r).__name__ for r in got] == [
        "RawResource",
        "InputError",
        "InputError",
        "InputError",
        "RawResource",
    ]
    assert [r.position for r in got] == ["line 1", "line 3", "line 4", "line 5", "line 6"]
    assert isinstance(got[1], InputError) and "invalid JSON" in got[1].message
    assert isinstance(got[3], InputError) and got[3].message == "no resourceType"


def test_bundles_of_any_type_nested_bundles_and_entries_without_resources(tmp_path: Path) -> None:
    inner = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": MD}]}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [{"resource": MR}, {"response": {"status": "201"}}, {"resource": inner}],
    }
    path = tmp_path / "b.json"
    path.write_bytes(orjson.dumps(bundle))
    got = _read(path)
    assert [(r.position, r.resource["id"]) for r in got if isinstance(r, RawResource)] == [
        ("entry 0", "a"),
        ("entry 2 entry 0", "b"),
    ]


def test_single_resource_documents_and_gzip(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_bytes(orjson.dumps(MR))
    with gzip.open(tmp_path / "many.ndjson.gz", "wb") as out:
        out.write(orjson.dumps(MR) + b"\n" + orjson.dumps(MD) + b"\n")
    assert len(_read(tmp_path / "one.json")) == 1
    assert len(_read(tmp_path / "many.ndjson.gz")) == 2


def test_folders_are_walked_in_a_stable_order_and_other_files_skipped(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("sub/z.ndjson", "a.json", "notes.txt", ".hidden.ndjson"):
        (tmp_path / name).write_bytes(b"{}")
    assert [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path])] == [
        "a.json",
        "sub/z.ndjson",
    ]
    with pytest.raises(FileNotFoundError):
        discover([tmp_path / "missing"])
