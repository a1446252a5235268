"""Each section's data key, wrapped under its tenant's key-encryption key: section codes and
descriptions, and the insiders' company and reason, are sealed under it (personal fields are
sealed under the person's own key instead)."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

from appliance.actors import Actor
from appliance.crypto.fields import FieldCipher, Place, Sealed
from appliance.insiders.models import InsiderSection
from appliance.keys.keyring import DataKeys

SECTION_FIELD_VERSION = 1
SECTION_KEY = "insider_section_key"  # what the logbook and the unwrap counter call one


def section_key_owner(section_id: uuid.UUID) -> str:
    return f"insider-section/{section_id}"


def content_place(version_id: uuid.UUID) -> Place:
    return Place("insider_versions", "content", version_id)


def personal_place(version_id: uuid.UUID) -> Place:
    return Place("insider_versions", "personal", version_id)


class SectionKeys:
    """One logged unwrap per section per unit of work."""

    def __init__(self, data_keys: DataKeys) -> None:
        self._keys = data_keys
        self._ciphers: dict[uuid.UUID, FieldCipher] = {}

    def new(self, section: InsiderSection, actor: Actor) -> None:
        key = secrets.token_bytes(32)
        section.wrapped_key, section.key_version = self._keys.wrap(section.tenant_id, section_key_owner(section.id),
                                                                   key, actor)
        self._ciphers[section.id] = FieldCipher(key, SECTION_FIELD_VERSION)

    def cipher(self, section: InsiderSection, actor: Actor) -> FieldCipher:
        cipher = self._ciphers.get(section.id)
        if cipher is None:
            key = self._keys.unwrap(section.tenant_id, section_key_owner(section.id), section.key_version,
                                    section.wrapped_key, actor, SECTION_KEY, section.id)
            cipher = self._ciphers[section.id] = FieldCipher(key, SECTION_FIELD_VERSION)
        return cipher


def seal_json(cipher: FieldCipher, values: dict[str, Any], place: Place) -> Sealed:
    return cipher.seal(json.dumps(values, sort_keys=True, ensure_ascii=False), place)


def open_json(cipher: FieldCipher, sealed: bytes | None, place: Place) -> dict[str, Any]:
    """The sealed JSON object ({} once retention deleted it: the chain checks that it was due)."""
    if sealed is None:
        return {}
    value = json.loads(cipher.open(sealed, place))
    return value if isinstance(value, dict) else {}
