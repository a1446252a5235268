"""The attacker of issues 4 and 12, run as its own process: `python -m tests.functional.thief CONFIG`.

It holds a copy of the database, the master key file and the configuration (everything the
customer's IT has; with the person key vault too when the configuration names it or it lies
beside the database) but no handler password and no reporter case key. It derives every key
the server can derive, unwraps every tenant key and every person's data key (both shares),
and tries each of them on every encrypted value, every sealed key copy, every case's content
key, every attachment chunk and every identity of a person named in a case (with each key as
the case's content key). It prints JSON: what it could open, so the test can check that no
case content, and no identity of a person named in a case, is among it.
"""

from __future__ import annotations

import json
import sys
import uuid
from functools import partial
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appliance.actors import CLI
from appliance.cases.case_subjects import identity_key
from appliance.cases.models import Case
from appliance.context import build_context
from appliance.crypto.case_cipher import CaseCipher
from appliance.crypto.fields import FieldCipher, Place
from appliance.crypto.files import ChunkSealer
from appliance.crypto.sealing import open_sealed
from appliance.errors import ApplianceError
from appliance.keys.keyring import _tenant_aad
from appliance.keys.models import TenantKey
from appliance.models import Base
from appliance.persons.models import CaseSubjectEntry, Person
from appliance.persons.service import person_data_key
from appliance.services import Services
from appliance.settings import load_settings

PURPOSES = ("tenant-key-wrap/v1", "installation-data/v1", "blind-index/v1", "sqlcipher-database/v1",
            "cookie-signing/v1", "session-secret/v1", "case-content-wrap/v1")
SEAL_KINDS = ("handler", "reporter", "escrow")


def server_keys(services: Services) -> list[bytes]:
    master = services.ctx.master
    found = [master.derive(p) for p in PURPOSES] + [master._key]
    for row in services.session.execute(sa.select(TenantKey)).scalars():
        found.append(_raw_tenant_key(services, row))
    stretched = [HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"x").derive(k) for k in found]
    return found + stretched


def _raw_tenant_key(services: Services, row: TenantKey) -> bytes:
    wrapper = AESGCM(services.ctx.master.derive("tenant-key-wrap/v1"))
    return wrapper.decrypt(row.wrapped_key[:12], row.wrapped_key[12:], _tenant_aad(row.tenant_id, row.version))


def person_keys(services: Services) -> list[bytes]:
    """Every person's data key that the server-held keys and the vault give (none for an erased one)."""
    found = []
    for person in services.session.execute(sa.select(Person)).scalars():
        db_share = attempt(partial(services.data_keys.unwrap, person.tenant_id, f"person/{person.id}",
                                   person.key_version, person.wrapped_key, CLI, "person_key", person.id))
        vault_share = attempt(partial(services.ctx.vault.share, person.id))
        if db_share is not None and vault_share is not None:
            found.append(person_data_key(person.id, db_share, vault_share))
    return found


def attempt(fn: object) -> bytes | None:
    try:
        return fn()  # type: ignore[operator,no-any-return]
    except (ApplianceError, ValueError):
        return None


def main(config: Path) -> None:
    ctx = build_context(load_settings(config_path=config))
    opened: list[dict[str, str]] = []
    with ctx.sessions() as session:
        services = Services(ctx, session)
        persons = person_keys(services)
        candidates = server_keys(services) + persons
        access = services.case_access
        for table in Base.metadata.sorted_tables:
            ids = [c for c in table.primary_key.columns]
            for row in session.execute(sa.select(table)).mappings():
                row_id = str(row[ids[0].name]) if len(ids) == 1 else "-"
                for column in table.columns:
                    value = row[column.name]
                    if not isinstance(value, (bytes, bytearray, memoryview)) or len(value) < 30:
                        continue
                    value = bytes(value)
                    name = column.name.removesuffix("_sealed")
                    for key in candidates:
                        for version in (1, 2):
                            plain = attempt(lambda: FieldCipher(key, version).open_bytes(
                                value, Place(table.name, name, row_id)))
                            if plain is None and table.name == "cases":
                                plain = attempt(lambda: CaseCipher(None, key).open_bytes(value, Place("cases", name, row_id)))
                            if plain is not None:
                                opened.append({"where": f"{table.name}.{column.name}", "text": plain.decode("latin-1")})
        for case in session.execute(sa.select(Case)).scalars():
            for key in candidates:
                for kind in SEAL_KINDS:
                    context = b"case-private-key\x1f" + case.id.bytes + b"\x1f" + kind.encode()
                    for seal in session.execute(sa.text("SELECT sealed FROM case_key_seals")).scalars():
                        if attempt(lambda: open_sealed(key, bytes(seal), context)) is not None:
                            opened.append({"where": "case_key_seals", "text": kind})
                if attempt(lambda: access.keys_from_private(case, key).cipher.content_key) is not None:
                    opened.append({"where": "cases.content_key_sealed", "text": str(case.id)})
        for entry in session.execute(sa.select(CaseSubjectEntry)).scalars():
            place = Place("case_subjects", "identity", entry.id)
            for content_key in candidates:  # each key the server has, as if it were the case's content key
                for with_persons in ([], *([key] for key in persons), persons):
                    key = identity_key(content_key, entry.id, with_persons)
                    plain = attempt(lambda: FieldCipher(key, 1).open_bytes(entry.identity_sealed, place))
                    if plain is not None:
                        opened.append({"where": "case_subjects.identity_sealed", "text": plain.decode("latin-1")})
        chunks = session.execute(sa.text("SELECT attachment_id, idx, data FROM attachment_chunks")).all()
        for attachment_id, index, data in chunks:
            aid = uuid.UUID(str(attachment_id)) if not isinstance(attachment_id, uuid.UUID) else attachment_id
            for key in candidates:
                for final in (True, False):
                    plain = attempt(lambda: ChunkSealer(key, aid).open(index, bytes(data), final))
                    if plain is not None:
                        opened.append({"where": "attachment_chunks", "text": plain.decode("latin-1")})
        session.rollback()
    ctx.close()
    print(json.dumps({"keys_tried": len(candidates), "person_keys": len(persons), "opened": opened}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
