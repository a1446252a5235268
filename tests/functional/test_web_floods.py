"""Floods of anonymous reports: refused per client and per channel before anything is read or
stored (no case, no attachment, no sealed key, no spooled upload), with a calm 429 page in the
organisation's frame; legitimate reporters elsewhere are not refused."""

from __future__ import annotations

import io
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from appliance.context import AppContext
from tests.functional.world import World, app_with, assert_hardened, count
from tests.support import FrozenClock
from tests.web import Browser, form_ref

STORED = ("cases", "attachments", "attachment_chunks", "case_key_seals", "case_messages")
MEGABYTE = 1_000_000



class CountingBody(io.BytesIO):
    """The request body as the server reads it: how many bytes the application took."""

    taken = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.taken += len(data)
        return data

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        n = super().readinto(buffer)
        self.taken += n
        return n


def stored(ctx: AppContext) -> dict[str, int]:
    return {table: count(ctx, table) for table in STORED}


def spooled() -> set[str]:
    """Temporary files of this process (the encrypted upload spool is an unlinked temp file held
    open) and files in the temp directory: an upload that was read leaves one while parsed."""
    temp = tempfile.gettempdir()
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(temp):
            held.add(target)
    return held


def post_report(browser: Browser, slug: str, category_id: uuid.UUID, token: str, what: str,
                attachment: bytes = b"") -> tuple[TestResponse, CountingBody]:
    """One report, from a form of its own (a flood of distinct reports, not one form sent again)."""
    boundary = uuid.uuid4().hex
    fields = {"csrf_token": token, "form_ref": form_ref(browser.get(f"/r/{slug}/report").get_data(as_text=True)) or "",
              "category": str(category_id), "what": what}
    body = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
                    for k, v in fields.items())
    if attachment:
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"scan.pdf\"\r\n"
                 "Content-Type: application/pdf\r\n\r\n").encode() + attachment + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    stream = CountingBody(body)
    response = browser.client.post(f"/r/{slug}/report", input_stream=stream, content_length=len(body),
                                   content_type=f"multipart/form-data; boundary={boundary}")
    return response, stream


def assert_refused_calmly(response: TestResponse, stream: CountingBody, organisation: str) -> int:
    assert response.status_code == 429, response.status_code
    retry = int(response.headers["Retry-After"])
    assert retry >= 1
    assert stream.taken == 0  # refused before the form, let alone the upload, was read
    page = response.get_data(as_text=True)
    assert organisation in page and "Nothing you sent was read or stored" in page
    assert_hardened(response)
    return retry


def test_a_flood_from_one_client_is_refused_after_the_limit_and_stores_nothing(world: World) -> None:
    limit = world.ctx.settings.report_limit_per_client
    flooder = world.browser("192.0.2.50")
    token = flooder.token("/r/alpha/report")
    before, spool_before = stored(world.ctx), spooled()
    created_before = count(world.ctx, "audit_events", "action = 'case.created'")
    evidence = os.urandom(MEGABYTE)

    statuses, retries = [], []
    for n in range(40):  # the clock does not move: forty reports in the same second
        response, stream = post_report(flooder, "alpha", world.alpha.category_id, token, f"flood {n}", evidence)
        statuses.append(response.status_code)
        if response.status_code == 429:
            retries.append(assert_refused_calmly(response, stream, "Alpha Ltd"))
        else:
            assert stream.taken > MEGABYTE
    assert statuses == [303] * limit + [429] * (40 - limit)
    assert max(retries) <= world.ctx.settings.report_limit_window_minutes * 60

    after = stored(world.ctx)
    assert after["cases"] == before["cases"] + limit
    assert after["attachments"] == before["attachments"] + limit
    assert after["attachment_chunks"] == before["attachment_chunks"] + limit  # 1 MB: one chunk each
    assert after["case_key_seals"] > before["case_key_seals"]
    assert count(world.ctx, "case_key_seals", "case_id NOT IN (SELECT id FROM cases)") == 0  # none of a refused one
    assert after["case_messages"] == before["case_messages"]
    assert count(world.ctx, "audit_events", "action = 'case.created'") == created_before + limit
    assert spooled() == spool_before  # nothing of any upload left behind

    # Another reporter is not refused; the flooder's own form says to wait, before anything is written.
    other = world.browser("192.0.2.51")
    response, _ = post_report(other, "alpha", world.alpha.category_id, other.token("/r/alpha/report"), "a real one")
    assert response.status_code == 303
    notice = flooder.get("/r/alpha/report").get_data(as_text=True)
    assert 'data-testid="report-wait"' in notice
    assert 'data-testid="report-wait"' not in other.get("/r/alpha/report").get_data(as_text=True)
    # ...and the limit is a window, not a ban.
    world.clock.advance(seconds=max(retries))
    response, _ = post_report(flooder, "alpha", world.alpha.category_id, token, "later")
    assert response.status_code == 303


@pytest.fixture
def channel_app(ctx: AppContext, clock: FrozenClock) -> Iterator[Flask]:
    yield from app_with(ctx, clock, report_limit_per_channel=3)


def test_the_channel_limit_refuses_across_clients(world: World, channel_app: Flask) -> None:
    before = stored(world.ctx)
    for n in range(3):
        browser = Browser(channel_app)
        browser.client.environ_base["REMOTE_ADDR"] = f"198.18.0.{n}"
        response, _ = post_report(browser, "alpha", world.alpha.category_id, browser.token("/r/alpha/report"),
                                  f"from client {n}")
        assert response.status_code == 303
    late = Browser(channel_app)
    late.client.environ_base["REMOTE_ADDR"] = "198.18.0.99"
    response, stream = post_report(late, "alpha", world.alpha.category_id, late.token("/r/alpha/report"),
                                   "one too many", os.urandom(MEGABYTE))
    assert_refused_calmly(response, stream, "Alpha Ltd")
    assert stored(world.ctx)["cases"] == before["cases"] + 3
    # Another organisation's channel has its own limit.
    response, _ = post_report(late, "beta", world.beta.category_id, late.token("/r/beta/report"), "elsewhere")
    assert response.status_code == 303


def test_a_form_with_errors_gives_its_slot_back_but_attempts_are_bounded(world: World) -> None:
    settings = world.ctx.settings
    reporter = world.browser("192.0.2.60")
    token = reporter.token("/r/alpha/report")
    for _ in range(settings.report_limit_per_client + 1):  # no description: the reporter corrects the form
        response, _ = post_report(reporter, "alpha", world.alpha.category_id, token, "")
        assert response.status_code == 400
    response, _ = post_report(reporter, "alpha", world.alpha.category_id, token, "now with a description")
    assert response.status_code == 303  # not refused: the failed posts stored nothing
    # Posting forms with errors (and parsed uploads) without end is still bounded.
    statuses = [post_report(reporter, "alpha", world.alpha.category_id, token, "", b"x" * 1024)[0].status_code
                for _ in range(3 * settings.report_limit_per_client)]
    assert statuses[-1] == 429 and set(statuses) == {400, 429}


def test_a_forged_post_counts_but_stores_nothing(world: World) -> None:
    """Posts that fail the CSRF check keep the slot they took (only a form the view read and found
    wanting gives it back)."""
    bot = world.browser("192.0.2.70")
    limit = world.ctx.settings.report_limit_per_client
    before = stored(world.ctx)
    statuses = [post_report(bot, "alpha", world.alpha.category_id, "forged", "spam")[0].status_code
                for _ in range(limit + 3)]
    assert statuses == [400] * limit + [429] * 3
    assert stored(world.ctx) == before


def test_an_unknown_channel_is_not_found_before_anything_is_read(world: World) -> None:
    browser = world.browser("192.0.2.80")
    response, stream = post_report(browser, "no-such-org", world.alpha.category_id, "x", "x", b"y" * 1024)
    assert response.status_code == 404 and stream.taken == 0


def test_the_refusal_page_is_translated(world: World) -> None:
    flooder = world.browser("192.0.2.90")
    token = flooder.token("/r/alpha/report")
    for _ in range(world.ctx.settings.report_limit_per_client):
        assert post_report(flooder, "alpha", world.alpha.category_id, token, "ok")[0].status_code == 303
    flooder.post("/language", {"lang": "sv", "next": "/r/alpha/report"}, form_url="/r/alpha/report")
    response, _ = post_report(flooder, "alpha", world.alpha.category_id, token, "en till")
    page = response.get_data(as_text=True)
    assert response.status_code == 429 and 'lang="sv"' in page
    assert re.search(r"<h1>[^<]*</h1>", page) and "Too many reports right now" not in page


def test_no_trace_of_the_flood_in_the_data_dir_but_the_runtime_store(world: World) -> None:
    """What the limits keep is in RUNTIME_DIR only (a tmpfs in production), never beside the database."""
    flooder = world.browser("192.0.2.100")
    token = flooder.token("/r/alpha/report")
    for _ in range(world.ctx.settings.report_limit_per_client + 2):
        post_report(flooder, "alpha", world.alpha.category_id, token, "flood")
    runtime = world.ctx.settings.runtime_path
    assert [p.name for p in runtime.iterdir()] == ["throttles.db"]
    data_files = {p.relative_to(world.ctx.settings.data_dir) for p in Path(world.ctx.settings.data_dir).rglob("*")
                  if p.is_file() and runtime not in p.parents}
    assert not any("throttle" in str(p) for p in data_files)
