"""What the insider-list services take and give: plain values, never rows."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, fields, replace
from typing import Any

from appliance.insiders.templates import ENTRY_FIELDS, PERSONAL_FIELDS

PROVIDER = "provider"
CONTENT_FIELDS = (*ENTRY_FIELDS, PROVIDER)
# What an export shows in each field of an insider whose data the retention run deleted.
ERASED = "erased under MAR Art. 18(5)"


@dataclass(frozen=True)
class InsiderDetails:
    """What is recorded about one insider; any part may be missing. ``provider``: the name of the
    third-party service provider whose one contact person this insider is."""

    first_name: str | None = None
    surname: str | None = None
    birth_surname: str | None = None
    professional_phone: str | None = None
    personal_phone: str | None = None
    national_id: str | None = None
    date_of_birth: str | dt.date | None = None
    home_address: str | None = None
    email: str | None = None
    company_name_address: str | None = None
    function_reason: str | None = None
    provider: str | None = None

    def personal(self) -> dict[str, str]:
        return {k: str(v) for k in PERSONAL_FIELDS if (v := getattr(self, k)) not in (None, "")}

    def content(self) -> dict[str, str]:
        return {k: str(v) for k in CONTENT_FIELDS if (v := getattr(self, k)) not in (None, "")}

    def merged(self, changes: InsiderDetails) -> InsiderDetails:
        """These details with every field ``changes`` gives replaced ("" clears a field)."""
        given = {f.name: getattr(changes, f.name) for f in fields(changes) if getattr(changes, f.name) is not None}
        return replace(self, **{k: (v if v != "" else None) for k, v in given.items()})

    @staticmethod
    def of(values: dict[str, Any]) -> InsiderDetails:
        names = {f.name for f in fields(InsiderDetails)}
        return InsiderDetails(**{k: v for k, v in values.items() if k in names})


@dataclass(frozen=True)
class SectionView:
    id: uuid.UUID
    kind: str
    code: str | None
    description: str | None
    identified_at: dt.datetime
    closed_at: dt.datetime | None
    close_reason: str | None
    updated_at: dt.datetime  # the newest change of the section or its insiders, as at the view's moment

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id), "kind": self.kind, "code": self.code, "description": self.description,
                "identified_at": self.identified_at.isoformat(),
                "closed_at": self.closed_at.isoformat() if self.closed_at else None,
                "close_reason": self.close_reason, "updated_at": self.updated_at.isoformat()}


@dataclass(frozen=True)
class InsiderView:
    entry_id: uuid.UUID
    section_id: uuid.UUID
    person_id: uuid.UUID | None
    details: InsiderDetails  # empty once retention deleted them (``erased``)
    obtained: dt.datetime
    ceased: dt.datetime | None
    version: int  # the chain position of the version shown
    erased: bool = False  # retention deleted every field of it (MAR Art. 18(5)); the times stay

    def value(self, field_name: str) -> str | dt.datetime | None:
        if field_name == "obtained":
            return self.obtained
        if field_name == "ceased":
            return self.ceased
        value = getattr(self.details, field_name, None)
        return None if value is None else str(value)


@dataclass(frozen=True)
class SectionAsAt:
    section: SectionView
    insiders: tuple[InsiderView, ...]
    transmitted_on: dt.date | None = None


@dataclass(frozen=True)
class ListAsAt:
    as_at: dt.datetime
    sections: tuple[SectionAsAt, ...]


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class InsiderChange:
    entry_id: uuid.UUID
    section_id: uuid.UUID
    kind: str  # added | changed | ceased | removed? never: nothing is removed
    changes: tuple[FieldChange, ...] = ()


@dataclass(frozen=True)
class ListDiff:
    since: dt.datetime
    until: dt.datetime
    added: tuple[InsiderChange, ...] = field(default=())
    changed: tuple[InsiderChange, ...] = field(default=())
    ceased: tuple[InsiderChange, ...] = field(default=())
