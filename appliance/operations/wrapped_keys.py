"""The registry of rows that hold a data key wrapped under a key-encryption key (KEK).

A KEK rotation (``appliance.operations.rotation``) and ``appliance keys status`` walk this list;
a new kind of record whose key is wrapped under a tenant's or the installation's KEK (insider
lists, next) adds one entry here and is rotated and reported with the others.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.cases.models import Case, ReporterNotifyAddress
from appliance.cases.reporter_notices import KEY_TYPE, notify_key_owner
from appliance.disclosures.models import DelayedDisclosure
from appliance.disclosures.service import disclosure_key_owner
from appliance.errors import DecryptionFailed
from appliance.events.models import EventBatch
from appliance.events.service import batch_key_owner
from appliance.insiders.models import InsiderSection
from appliance.insiders.section_keys import SECTION_KEY, section_key_owner
from appliance.keys.keyring import (
    legacy_content_key_version,
    open_data_key,
    open_legacy_content_key,
    seal_data_key,
    seal_legacy_content_key,
)
from appliance.persons.models import Person

# (kek, tenant_id or None, row id, kek version, wrapped) -> data key
Opener = Callable[[AESGCM, uuid.UUID | None, uuid.UUID, int, bytes], bytes]
# (kek, tenant_id or None, row id, kek version, data key) -> wrapped
Sealer = Callable[[AESGCM, uuid.UUID | None, uuid.UUID, int, bytes], bytes]


@dataclass(frozen=True)
class WrappedKeyRows:
    """One table whose rows each carry a wrapped data key and the KEK version wrapping it."""

    name: str  # shown by `keys status`
    object_type: str  # what the logbook and the unwrap counter call one of these keys
    table: sa.Table
    id: sa.Column[Any]
    tenant_id: sa.Column[Any]
    version: sa.Column[Any]
    wrapped: sa.Column[Any]
    installation_rows: bool  # rows with no tenant exist, wrapped under the installation's KEK
    open: Opener
    seal: Sealer
    only: sa.ColumnElement[bool] | None = None  # rows that hold no wrapped key are left out

    def in_scope(self, tenant_id: uuid.UUID | None) -> sa.ColumnElement[bool]:
        scope = self.tenant_id.is_(None) if tenant_id is None else self.tenant_id == tenant_id
        return scope if self.only is None else sa.and_(scope, self.only)


def person_key_owner(person_id: uuid.UUID) -> str:
    """The owner a person's data key is wrapped for (``DataKeys.wrap``'s ``owner``)."""
    return f"person/{person_id}"


def _open_person(kek: AESGCM, tenant_id: uuid.UUID | None, row_id: uuid.UUID, version: int, wrapped: bytes) -> bytes:
    return open_data_key(kek, tenant_id, person_key_owner(row_id), version, wrapped, "person key")


def _seal_person(kek: AESGCM, tenant_id: uuid.UUID | None, row_id: uuid.UUID, version: int, key: bytes) -> bytes:
    return seal_data_key(kek, tenant_id, person_key_owner(row_id), version, key)


def _open_case(kek: AESGCM, tenant_id: uuid.UUID | None, row_id: uuid.UUID, version: int, wrapped: bytes) -> bytes:
    # The wrapped key names its version in a prefix too; a row whose two disagree was tampered with.
    if tenant_id is None or legacy_content_key_version(wrapped) != version:
        raise DecryptionFailed("legacy content key")
    return open_legacy_content_key(kek, tenant_id, row_id, wrapped)


def _seal_case(kek: AESGCM, tenant_id: uuid.UUID | None, row_id: uuid.UUID, version: int, key: bytes) -> bytes:
    assert tenant_id is not None
    return seal_legacy_content_key(kek, version, tenant_id, row_id, key)


def data_key_rows(name: str, object_type: str, model: type[Any], owner: Callable[[uuid.UUID], str],
                  label: str) -> WrappedKeyRows:
    """The entry for a table of tenant records that each hold a data key from ``DataKeys.wrap``
    under ``owner(row id)`` (``id``, ``tenant_id``, ``key_version`` and ``wrapped_key`` columns)."""
    table = cast(sa.Table, model.__table__)

    def _open(kek: AESGCM, tenant_id: uuid.UUID | None, row_id: uuid.UUID, version: int, wrapped: bytes) -> bytes:
        return open_data_key(kek, tenant_id, owner(row_id), version, wrapped, label)

    def _seal(kek: AESGCM, tenant_id: uuid.UUID | None, row_id: uuid.UUID, version: int, key: bytes) -> bytes:
        return seal_data_key(kek, tenant_id, owner(row_id), version, key)

    return WrappedKeyRows(name=name, object_type=object_type, table=table, id=table.c.id,
                          tenant_id=table.c.tenant_id, version=table.c.key_version, wrapped=table.c.wrapped_key,
                          installation_rows=False, open=_open, seal=_seal)


_persons = cast(sa.Table, Person.__table__)
_cases = cast(sa.Table, Case.__table__)
PERSONS = WrappedKeyRows(
    name="persons", object_type="person_key", table=_persons,
    id=_persons.c.id, tenant_id=_persons.c.tenant_id, version=_persons.c.key_version, wrapped=_persons.c.wrapped_key,
    installation_rows=True, open=_open_person, seal=_seal_person)
# Content keys of cases from before sealed case key pairs, not yet converted by `keys seal-existing`.
LEGACY_CONTENT_KEYS = WrappedKeyRows(
    name="legacy content keys", object_type="content_key", table=_cases,
    id=_cases.c.id, tenant_id=_cases.c.tenant_id, version=_cases.c.key_version, wrapped=_cases.c.wrapped_key,
    installation_rows=False, open=_open_case, seal=_seal_case, only=_cases.c.wrapped_key.is_not(None))

DELAYED_DISCLOSURES = data_key_rows("delayed disclosures", "disclosure_key", DelayedDisclosure,
                                    disclosure_key_owner, "disclosure key")
# Data keys of uploaded access events, one per batch.
EVENT_BATCHES = data_key_rows("access event batches", "event_batch_key", EventBatch, batch_key_owner,
                              "event batch key")

INSIDER_SECTIONS = data_key_rows("insider sections", SECTION_KEY, InsiderSection, section_key_owner,
                                 "insider section key")

# The reporters' notification addresses (readable by the mail job without the case key).
REPORTER_NOTIFY_ADDRESSES = data_key_rows("reporter notification addresses", KEY_TYPE, ReporterNotifyAddress,
                                          notify_key_owner, "reporter notification key")

REGISTRY: tuple[WrappedKeyRows, ...] = (PERSONS, LEGACY_CONTENT_KEYS, DELAYED_DISCLOSURES, EVENT_BATCHES,
                                        INSIDER_SECTIONS, REPORTER_NOTIFY_ADDRESSES)


def tables_for(tenant_id: uuid.UUID | None) -> tuple[WrappedKeyRows, ...]:
    """The registry entries that have rows in this scope (a tenant, or None: the installation)."""
    return REGISTRY if tenant_id is not None else tuple(e for e in REGISTRY if e.installation_rows)
