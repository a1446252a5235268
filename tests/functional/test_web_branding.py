"""Portal branding over HTTP: an administrator sets the logo, the intro, the privacy notice and
the policy link; the portal shows them (escaped, the link by its host), serves the logo from the
database with its type, nosniff, an ETag and no-cache; bad logos and links are refused with a
clear message. Policies, CSRF, other tenants and roles (both databases)."""

from __future__ import annotations

import io
import re

from PIL import Image

from appliance.actors import Role
from tests.functional.branding_support import logo_jpeg, logo_png
from tests.functional.world import World, assert_hardened, assert_other_roles_refused, audit_details, is_redirect_to

XSS = '<script>alert("brand")</script>'
IMG = '"><img src=x onerror=alert(1)>'
PAGE = "/admin/t/alpha/branding"


def admin_of(world: World):  # type: ignore[no-untyped-def]
    return world.staff_browser(world.alpha.staff[Role.ADMIN])


def upload(world: World, data: bytes, name: str = "logo.png", content_type: str = "image/png"):  # type: ignore[no-untyped-def]
    return admin_of(world).post(f"{PAGE}/logo", {"logo": (io.BytesIO(data), name, content_type)}, form_url=PAGE,
                                content_type="multipart/form-data")


def test_the_branding_routes_declare_their_policies(app) -> None:  # type: ignore[no-untyped-def]
    from webapp.policy import policy_of

    expected = {"admin.branding": "staff:admin", "admin.branding_logo": "staff:admin",
                "admin.branding_remove_logo": "staff:admin", "admin.branding_reset": "staff:admin",
                "reporter.logo": "reporter", "reporter.privacy": "reporter"}
    assert {endpoint: policy_of(app.view_functions[endpoint]) for endpoint in expected} == expected


def test_texts_and_link_reach_the_portal_escaped(world: World) -> None:
    admin = admin_of(world)
    assert f'href="{PAGE}"' in admin.get("/admin/").get_data(as_text=True)
    intro = f"Welcome to Alpha's channel. {XSS}\n\nSecond paragraph {IMG}"
    notice = f"Alpha Ltd is the controller.\n\nWrite to privacy@alpha.example {XSS}"
    response = admin.post(PAGE, {"intro": intro, "privacy_notice": notice,
                                 "policy_url": "https://intranet.alpha.example/whistleblowing"})
    assert is_redirect_to(response, PAGE)
    portal = world.browser().get("/r/alpha/")
    page = portal.get_data(as_text=True)
    assert_hardened(portal)
    assert "<p class=\"body\">Welcome to Alpha&#39;s channel. &lt;script&gt;" in page
    assert "<p class=\"body\">Second paragraph &#34;&gt;&lt;img" in page
    assert XSS not in page and "<img src=x" not in page
    link = re.search(r'<a href="([^"]*)" rel="([^"]*)">([^<]*)</a>', page)
    assert link is not None
    assert link.groups() == ("https://intranet.alpha.example/whistleblowing", "noopener noreferrer",
                             "Reporting policy on intranet.alpha.example")
    # The privacy notice: its own page, linked from the foot of every reporter page.
    for url in ("/r/alpha/", "/r/alpha/report", "/r/alpha/follow-up", "/r/alpha/privacy", "/r/alpha/no-such-page"):
        assert 'href="/r/alpha/privacy"' in world.browser().get(url).get_data(as_text=True), url
    privacy = world.browser().get("/r/alpha/privacy").get_data(as_text=True)
    assert "Alpha Ltd is the controller." in privacy and XSS not in privacy and "&lt;script&gt;" in privacy
    assert "intranet.alpha.example" in privacy
    swedish = world.browser().get("/r/alpha/privacy", headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert "Integritetsmeddelande" in swedish and "Alpha Ltd is the controller." in swedish
    # The logbook says that it changed, never what it says.
    details = audit_details(world.ctx, "tenant.branding_changed")
    assert details[-1] == "v=2 part=texts"  # v=1: the world's logo
    assert not any("Welcome" in (d or "") or "intranet" in (d or "") for d in details)


def test_without_texts_the_portal_shows_its_own(world: World) -> None:
    privacy = world.browser().get("/r/alpha/privacy")
    assert privacy.status_code == 200
    text = privacy.get_data(as_text=True)
    assert 'data-testid="standard-privacy-notice"' in text and "Alpha Ltd is responsible" in text
    assert 'data-testid="policy-link"' not in text
    page = world.browser().get("/r/alpha/").get_data(as_text=True)
    assert 'data-testid="intro"' not in page and 'data-testid="policy-link"' not in page
    german = world.browser().get("/r/beta/privacy", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Datenschutzhinweis" in german and "Beta Ltd ist für die personenbezogenen Daten" in german


def test_bad_links_and_texts_are_refused_with_a_message(world: World) -> None:
    admin = admin_of(world)
    admin.post(PAGE, {"intro": "Kept intro", "policy_url": "https://intranet.alpha.example/policy"})
    for link in ("javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "http://intranet.alpha.example/",
                 "/policy", "https://intranet.alpha.example@evil.example/", f"https://evil.example/{IMG}"):
        response = admin.post(PAGE, {"intro": "Changed", "policy_url": link})
        assert response.status_code == 400, link
        assert "Enter a complete https:// address" in admin.text()
        assert 'aria-invalid="true"' in admin.text()
    assert admin.post(PAGE, {"intro": "x" * 4001}).status_code == 400
    assert admin.post(PAGE, {"privacy_notice": "a\u202eb"}).status_code == 400
    assert "This text is too long or contains a character that is not allowed." in admin.text()
    page = world.browser().get("/r/alpha/").get_data(as_text=True)
    assert "Kept intro" in page and "Changed" not in page and "evil.example" not in page


def test_a_logo_is_uploaded_served_and_removed(world: World) -> None:
    jpeg = logo_jpeg((150, 50), exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00Author Marker")
    response = upload(world, jpeg, "logo.jpg", "image/jpeg")
    assert is_redirect_to(response, PAGE)
    page = world.browser().get("/r/alpha/").get_data(as_text=True)
    img = re.search(r'<img class="portal-logo" src="([^"]+)" alt="([^"]*)" width="(\d+)" height="(\d+)"', page)
    assert img is not None and img.group(2) == "Alpha Ltd" and img.groups()[2:] == ("150", "50")
    assert img.group(1).startswith("/r/alpha/logo?v=")
    browser = world.browser()
    logo = browser.get(img.group(1))
    assert logo.status_code == 200 and logo.mimetype == "image/jpeg"
    assert logo.data != jpeg and b"Author Marker" not in logo.data
    assert Image.open(io.BytesIO(logo.data)).size == (150, 50)
    assert logo.headers["X-Content-Type-Options"] == "nosniff"
    assert logo.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert set(logo.headers["Cache-Control"].replace(" ", "").split(",")) == {"private", "no-cache"}
    etag = logo.headers["ETag"]
    assert etag and etag.strip('"') in img.group(1)
    assert_hardened(logo, page=False)
    again = browser.get("/r/alpha/logo", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data
    # A new logo: a new ETag, so no cache shows the old one.
    assert is_redirect_to(upload(world, logo_png((60, 60))), PAGE)
    replaced = world.browser().get("/r/alpha/logo", headers={"If-None-Match": etag})
    assert replaced.status_code == 200 and replaced.mimetype == "image/png" and replaced.headers["ETag"] != etag
    # Removed: no image on the portal, the logo URL is 404 and is not kept.
    assert is_redirect_to(admin_of(world).post(f"{PAGE}/logo/remove", form_url=PAGE), PAGE)
    assert "portal-logo" not in world.browser().get("/r/alpha/").get_data(as_text=True)
    gone = world.browser().get("/r/alpha/logo")
    assert gone.status_code == 404 and "no-store" in gone.headers["Cache-Control"]
    assert audit_details(world.ctx, "tenant.branding_changed")[-3:] == [
        "v=2 part=logo", "v=3 part=logo", "v=4 part=logo-removed"]


def test_bad_logos_are_refused_with_a_clear_message_and_change_nothing(world: World) -> None:
    before = world.browser().get("/r/alpha/logo").data
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
    cases = [
        (svg, "logo.svg", "image/svg+xml", "Only PNG and JPEG images can be used"),
        (svg, "logo.png", "image/png", "Only PNG and JPEG images can be used"),  # lying name and type
        (b"GIF89a" + b"\x00" * 100, "logo.gif", "image/gif", "Only PNG and JPEG images can be used"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 30, "logo.png", "image/png", "not a complete PNG or JPEG image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 250_000, "big.png", "image/png", "The file is too large"),
        (logo_png((1500, 20)), "wide.png", "image/png", "between 8 and 1200 pixels"),
    ]
    for data, name, content_type, message in cases:
        response = upload(world, data, name, content_type)
        assert response.status_code == 400, name
        text = response.get_data(as_text=True)
        assert message in text, name
        assert 'id="logo-logo-error"' in text and 'aria-invalid="true"' in text
    response = admin_of(world).post(f"{PAGE}/logo", {}, form_url=PAGE, content_type="multipart/form-data")
    assert response.status_code == 400 and "Choose a PNG or JPEG file." in response.get_data(as_text=True)
    assert world.browser().get("/r/alpha/logo").data == before


def test_a_polyglot_logo_is_served_without_what_it_carried(world: World) -> None:
    hidden = b"<html><script>alert(document.cookie)</script></html>"
    assert is_redirect_to(upload(world, logo_png() + hidden), PAGE)
    served = world.browser().get("/r/alpha/logo")
    assert served.status_code == 200 and hidden not in served.data and b"<script" not in served.data
    assert served.mimetype == "image/png"


def test_other_tenants_and_roles_cannot_change_a_branding(world: World) -> None:
    routes = [("GET", PAGE), ("POST", PAGE), ("POST", f"{PAGE}/logo"), ("POST", f"{PAGE}/logo/remove"),
              ("POST", f"{PAGE}/reset")]
    assert_other_roles_refused(world, routes, Role.ADMIN)
    beta_admin = world.staff_browser(world.beta.staff[Role.ADMIN])
    token = beta_admin.token("/admin/t/beta/branding")
    assert beta_admin.get(PAGE).status_code == 404
    for url in (PAGE, f"{PAGE}/logo/remove", f"{PAGE}/reset"):
        response = beta_admin.post(url, {"csrf_token": token, "intro": "Beta was here",
                                         "policy_url": "https://beta.example/"}, csrf=False)
        assert response.status_code == 404, url
    response = beta_admin.post(f"{PAGE}/logo", {"csrf_token": token, "logo": (io.BytesIO(logo_png()), "l.png")},
                               csrf=False, content_type="multipart/form-data")
    assert response.status_code == 404
    # Beta's own page changes beta only.
    assert is_redirect_to(beta_admin.post("/admin/t/beta/branding", {"intro": "Beta intro"}), "/admin/t/beta/branding")
    assert "Beta intro" in world.browser().get("/r/beta/").get_data(as_text=True)
    alpha = world.browser().get("/r/alpha/").get_data(as_text=True)
    assert "Beta" not in alpha and "portal-logo" in alpha  # alpha's logo is still there
    assert world.browser().get("/r/alpha/logo").status_code == 200
    # Without a CSRF token nothing changes.
    admin = admin_of(world)
    assert admin.post(PAGE, {"intro": "forged"}, csrf=False).status_code == 400
    assert admin.post(f"{PAGE}/logo/remove", csrf=False).status_code == 400
    assert "forged" not in world.browser().get("/r/alpha/").get_data(as_text=True)
    assert world.browser().get("/r/alpha/logo").status_code == 200
