"""`fhir-sync outbox status|dead|retry` and the store functions behind them (both backends):
a dead write goes out again only while no newer plan for its patient and endpoint follows."""

from __future__ import annotations

from sqlalchemy import Engine
from typer.testing import CliRunner

from fhir_sync.cli import app
from fhir_sync.store.database import write_transaction
from fhir_sync.store.outbox import claim_outbox, complete, enqueue, fail
from fhir_sync.store.outbox_review import dead_writes, outbox_counts, retry_dead

EHR = "http://ehr.test/fhir"
runner = CliRunner()


def _kill(engine: Engine, patient: str, error: str) -> int:
    """Queue a write for `patient` and let its one attempt fail for good; its id."""
    with write_transaction(engine) as connection:
        enqueue(connection, EHR, patient, b'{"resourceType":"Bundle"}')
    (claimed,) = [w for w in claim_outbox(engine, "w", 100) if w.patient_id == patient]
    assert fail(engine, claimed.id, "w", error, retry_at=None)
    return claimed.id


def test_dead_writes_are_listed_and_sent_again_unless_a_newer_one_follows(
    engine: Engine,
) -> None:
    alone = _kill(engine, "p-alone", "HTTP 422: the EHR refused the bundle")
    followed = _kill(engine, "p-followed", "HTTP 503")
    with write_transaction(engine) as connection:  # a newer plan for p-followed, sent
        enqueue(connection, EHR, "p-followed", b'{"resourceType":"Bundle","id":"newer"}')
    (newer,) = claim_outbox(engine, "w", 100)
    assert complete(engine, newer.id, "w")

    listed = dead_writes(engine)
    assert [(w.id, w.patient_id, w.attempts) for w in listed] == [
        (followed, "p-followed", 1),
        (alone, "p-alone", 1),
    ]
    assert listed[1].last_error == "HTTP 422: the EHR refused the bundle"
    assert outbox_counts(engine) == {"dead": 2, "done": 1}

    result = retry_dead(engine, [alone, followed, newer.id, 999_999])
    assert (result.requeued, result.superseded) == ([alone], [followed])
    assert result.not_dead == [newer.id, 999_999]
    assert outbox_counts(engine) == {"pending": 1, "superseded": 1, "done": 1}
    (again,) = claim_outbox(engine, "w", 100)  # due now, attempts counted from zero
    assert (again.id, again.attempts) == (alone, 1)
    assert retry_dead(engine).requeued == []  # nothing dead is left


def test_the_outbox_command(engine: Engine) -> None:
    env = {"FHIR_SYNC_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    env["COLUMNS"] = "200"
    dead_id = _kill(engine, "p-cli", "HTTP 400: bad request")

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["outbox", *args], env=env)
        return result.exit_code, result.output

    code, output = run("status")
    assert code == 0 and "dead" in output and " 1 " in output
    code, output = run("dead")
    assert code == 0 and "p-cli" in output and "HTTP 400: bad request" in output
    assert run("retry")[0] == 2  # neither ids nor --all
    assert run("retry", str(dead_id), "--all")[0] == 2
    code, output = run("retry", str(dead_id), "424242")
    assert code == 1 and "1 write(s) queued again" in output and "424242" in output
    code, output = run("dead")
    assert code == 0 and "no dead writes" in output
    assert run("retry", "--all") == (0, "0 write(s) queued again\n")
