"""`appliance person find|export|erase` in subprocesses, as an administrator answers a GDPR
request: nothing identifying on the terminal, in the logbook or in the logs."""

from __future__ import annotations

import json
import stat
import uuid

import pytest
import sqlalchemy as sa

from appliance.actors import CLI
from appliance.audit.models import AuditEvent
from appliance.cases.service import QueueFilter
from appliance.crypto.fields import Place
from appliance.persons.models import Person, PersonLink
from appliance.persons.service import PersonDetails, clean_details
from appliance.retention.models import LegalHold
from tests.functional import test_cli_keys
from tests.functional.console import PASSPHRASE, PASSWORD, Appliance, file_report, in_process, one_line_failure

appliance = test_cli_keys.appliance  # the same fixture: a tenant and a handler, officer@example.com
MARKER = "Vx9-CLI-PERSON"
SUBJECT = "subject@example.com"


def name_in_every_case(app: Appliance) -> None:
    with in_process(app) as services:
        user = services.users.by_email("officer@example.com")
        principal = services.users.principal(user.id, services.users.unlock_private_key(user.id, PASSWORD))
        for row in services.cases.queue(principal, QueueFilter()):
            services.case_subjects.add(principal, row.id, clean_details(f"Robin {MARKER}", SUBJECT, "AB 12-34"),
                                       "concerned")


def test_find_export_and_erase_a_person_named_in_cases(appliance: Appliance) -> None:
    file_report(appliance, "first")
    file_report(appliance, "second")
    name_in_every_case(appliance)

    [match] = appliance.json("person", "find", "--email", "-", stdin=SUBJECT.upper() + "\n")
    assert match["scope"] == "example" and match["identifiers"] == ["email", "national_id"]
    # Which cases name the person is sealed to them: said, never listed.
    assert match["records"] == [] and "compliance team" in match["named_in_cases"]
    text = appliance.ok("person", "find", "--national-id", "ab1234")
    assert match["person_id"] in text and "named in cases of example" in text and "sealed" in text
    assert MARKER not in text and SUBJECT not in text

    out = appliance.cwd / "export.json"
    summary = appliance.json("person", "export", "--email", SUBJECT, "--out", str(out))
    assert summary == {"file": str(out), "persons": 1, "records": 0}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    [person] = json.loads(out.read_text())["persons"]
    assert person["person"]["name"] is None and person["named_in_cases"]
    assert MARKER not in out.read_text() and SUBJECT not in out.read_text()
    code, line = appliance.fails("person", "export", "--email", SUBJECT, "--out", str(out))
    assert code == 2 and "already exists" in line

    plan = appliance.json("person", "erase", "--email", SUBJECT, "--dry-run")
    assert plan["erased"] is False and plan["persons"][0]["deleted"] == {"identifiers": 2, "person key": 1}
    assert plan["persons"][0]["case_entries_shredded"] is True
    assert "would shred what any case recorded" in appliance.ok("person", "erase", "--email", SUBJECT, "--dry-run")
    assert appliance.json("person", "find", "--email", SUBJECT)  # the dry run changed nothing

    with in_process(appliance) as services:
        tenant = services.tenants.by_slug("example")
        services.session.add(LegalHold(tenant_id=tenant.id, reference="Matter 7", placed_by="cli",
                                       placed_at=services.ctx.clock()))
    result = appliance.run("person", "erase", "--email", SUBJECT)
    code, line = one_line_failure(result)
    assert code == 3 and "legal hold (Matter 7)" in line
    with in_process(appliance) as services:
        services.session.execute(sa.update(LegalHold).values(released_at=services.ctx.clock()))

    done = appliance.json("person", "erase", "--email", SUBJECT)
    assert done["erased"] is True and done["blocked"] == []
    assert appliance.json("person", "find", "--email", SUBJECT) == []
    code, line = appliance.fails("person", "erase", "--email", SUBJECT)
    assert "no person with this identifier" in line
    vault_copy = json.loads((appliance.data_dir / "backups" / "vault" / "vault.json").read_text())
    assert person["person"]["id"] not in {row["person_id"] for row in vault_copy["shares"]}

    with in_process(appliance) as services:
        events = services.session.execute(sa.select(AuditEvent)).scalars().all()
        assert {"person.recorded", "case.subject_added", "person.searched", "person.exported",
                "person.erased"} <= {e.action for e in events}
        logged = " ".join(f"{e.object_id} {e.detail}" for e in events)
        # The cases still hold their entries, shredded: shown as erased to their handlers.
        user = services.users.by_email("officer@example.com")
        principal = services.users.principal(user.id, services.users.unlock_private_key(user.id, PASSWORD))
        for row in services.cases.queue(principal, QueueFilter()):
            assert [s.erased for s in services.case_subjects.list(principal, row.id)] == [True]
    for secret in (MARKER, SUBJECT, "AB1234", "Robin"):
        assert secret not in logged


def test_a_staff_member_is_found_in_the_installation(appliance: Appliance) -> None:
    [match] = appliance.json("person", "find", "--email", "Officer@Example.com")
    assert match["scope"] == "installation" and match["staff_user_id"]
    out = appliance.cwd / "me.json"
    appliance.ok("person", "export", "--id", match["person_id"], "--out", str(out))
    [person] = json.loads(out.read_text())["persons"]
    assert person["records"][0]["account"]["email"] == "officer@example.com"
    assert person["records"][0]["account"]["roles"] == [{"tenant": "example", "role": "handler"}]


MISSING_PERSON = uuid.UUID("5b1f3c2e-8d4a-4f6b-9c7e-2a1d0e3f4b5c")


@pytest.mark.parametrize(("args", "needle"), [
    (("person", "find"), "give --email or --national-id"),
    (("person", "find", "--email", "not an address"), "email: not an e-mail address"),
    (("person", "find", "--national-id", "<script>"), "national_id: letters and digits only"),
    (("person", "erase", "--id", str(MISSING_PERSON)), f"person {MISSING_PERSON} not found"),
    (("person", "erase", "--id", "not-a-uuid"), "not a valid UUID"),
])
def test_bad_requests_fail_with_one_line(appliance: Appliance, args: tuple[str, ...], needle: str) -> None:
    result = appliance.run(*args)
    assert result.returncode != 0
    assert needle in result.stderr and "Traceback" not in result.stderr


def name_the_old_way(app: Appliance, details: PersonDetails) -> None:
    """As persons were named in every case before case-sealed entries (links in clear)."""
    with in_process(app) as services:
        user = services.users.by_email("officer@example.com")
        principal = services.users.principal(user.id, services.users.unlock_private_key(user.id, PASSWORD))
        tenant = services.tenants.by_slug("example")
        person = services.persons.record(tenant.id, details, CLI)
        for row in services.cases.queue(principal, QueueFilter()):
            _case, cipher = services.cases.opened(principal, row.id)
            link_id = uuid.uuid4()
            services.persons.link(person, "case_subject", "case", row.id, CLI, link_id=link_id,
                                  detail=cipher.seal("witness", Place("person_links", "detail", link_id)))


def doctor_check(app: Appliance, name: str) -> dict[str, str]:
    report = json.loads(app.run("doctor", "--json").stdout)
    [check] = [c for c in report["checks"] if c["name"] == name]
    return check  # type: ignore[no-any-return]


def test_reconcile_seals_old_entries_and_deletes_persons_no_case_names(appliance: Appliance) -> None:
    escrow, public, _fingerprint = test_cli_keys.make_offline_escrow(appliance.cwd)
    appliance.ok("keys", "escrow", "install", "--tenant", "example", "--public-key", str(public))
    test_cli_keys.confirm_pending(appliance, "officer@example.com")
    file_report(appliance, "first")
    file_report(appliance, "second")
    name_the_old_way(appliance, PersonDetails(f"Robin {MARKER}", SUBJECT, None))
    check = doctor_check(appliance, "persons in cases")
    assert check["status"] == "warn" and "example: 2" in check["detail"] and "appliance person reconcile" in check["detail"]

    code, line = appliance.fails("person", "reconcile", "--tenant", "example", "--escrow-file", str(escrow),
                                 "--passphrase-stdin", stdin="not the passphrase at all\n")
    assert code != 0 and "passphrase" in line.lower()
    done = appliance.json("person", "reconcile", "--tenant", "example", "--escrow-file", str(escrow),
                          "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    assert (done["cases_converted"], done["persons_converted"], done["persons_deleted"]) == (2, 2, 0)
    assert done["cases_locked"] == [] and done["sweep_blocked_by"] == []
    assert doctor_check(appliance, "persons in cases")["status"] == "ok"
    with in_process(appliance) as services:
        assert not services.session.execute(sa.select(PersonLink).where(PersonLink.kind == "case_subject")).first()
        [person] = services.session.execute(sa.select(Person).where(Person.tenant_id.is_not(None))).scalars()
        assert person.name_sealed is None
        user = services.users.by_email("officer@example.com")
        principal = services.users.principal(user.id, services.users.unlock_private_key(user.id, PASSWORD))
        for row in services.cases.queue(principal, QueueFilter()):
            [subject] = services.case_subjects.list(principal, row.id)
            assert (subject.name, subject.identifiers, subject.role) == (f"Robin {MARKER}", {"email": SUBJECT},
                                                                         "witness")
            services.case_subjects.remove(principal, row.id, subject.entry_id)
        person_id = person.id
    # Taken off every case: only the escrow key can tell, and the next run deletes the record.
    done = appliance.json("person", "reconcile", "--tenant", "example", "--escrow-file", str(escrow),
                          "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    assert (done["persons_converted"], done["persons_deleted"]) == (0, 1)
    assert appliance.json("person", "find", "--email", SUBJECT) == []
    vault_copy = json.loads((appliance.data_dir / "backups" / "vault" / "vault.json").read_text())
    assert str(person_id) not in {row["person_id"] for row in vault_copy["shares"]}
    with in_process(appliance) as services:
        assert person_id not in services.ctx.vault.person_ids()
        events = services.session.execute(sa.select(AuditEvent.action, AuditEvent.detail)).all()
    assert ("person.swept", "persons=1") in [tuple(e) for e in events]
    assert MARKER not in str(events) and SUBJECT not in str(events)
