"""Helpers for the insider-list tests: a frozen time after ITS 2026/1291 applied, an insider's details."""

from __future__ import annotations

import datetime as dt

from appliance.insiders.records import InsiderDetails

AFTER_2026_ITS = dt.datetime(2026, 9, 1, 12, 0, tzinfo=dt.UTC)
MARKER = "ZQXMARKER"


def details(tag: str = "Anna", **changes: str) -> InsiderDetails:
    values = {
        "first_name": f"{tag}", "surname": f"Lind{tag}", "birth_surname": f"Berg{tag}",
        "professional_phone": "+46 8 123 456 78", "personal_phone": "0046 70 111 22 33",
        "national_id": f"19800101-{abs(hash(tag)) % 10000:04d}", "date_of_birth": "1980-01-01",
        "home_address": f"Storgatan 1, 111 22 Stockholm, Sweden ({tag})", "email": f"{tag.lower()}@example.org",
        "company_name_address": "Issuer AB, Box 1, Stockholm", "function_reason": f"CFO, prepares the report ({tag})",
    }
    values.update(changes)
    return InsiderDetails(**values)


def marked(tag: str) -> InsiderDetails:
    """Every personal field, the company and the reason carry the marker string."""
    m = f"{MARKER}{tag}"
    return InsiderDetails(first_name=f"{m}first", surname=f"{m}sur", birth_surname=f"{m}birth",
                          professional_phone="+46812345678", personal_phone="+46701112233",
                          national_id=f"{m}NID".upper(), date_of_birth="1975-05-05", home_address=f"{m}home",
                          email=f"{m.lower()}@example.org", company_name_address=f"{m}company",
                          function_reason=f"{m}reason")
