"""The portal's policy link is an https link to a named host, shown by that host; its texts are
plain text with paragraphs, without characters that hide or reorder what a reporter reads."""

from __future__ import annotations

import pytest

from appliance.errors import InvalidInput
from appliance.tenants.branding import PortalBranding, check_policy_url, check_portal_text, paragraphs


def host_of(url: str) -> str | None:
    return PortalBranding(1, None, None, url, None, None, None, None).policy_host


@pytest.mark.parametrize(("given", "stored"), [
    ("https://intranet.example.com/policy", "https://intranet.example.com/policy"),
    ("  HTTPS://Intranet.Example.COM/Policy?lang=sv#part-2 ", "https://intranet.example.com/Policy?lang=sv#part-2"),
    ("https://intranet:8443/whistleblowing", "https://intranet:8443/whistleblowing"),
    ("https://exempel.se/visselblåsning", "https://exempel.se/visselbl%C3%A5sning"),
    ("https://bücher.example/policy", "https://xn--bcher-kva.example/policy"),
    ("", None),
])
def test_accepted_links_are_normalised(given: str, stored: str | None) -> None:
    assert check_policy_url(given) == stored


@pytest.mark.parametrize("given", [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>",
    "http://intranet.example.com/policy", "//evil.example/policy", "/policy", "policy.html",
    "https:evil.example", "https:/evil.example", "https://", "https:///policy",
    "https://intranet.example.com@evil.example/", "https://user:pass@evil.example/",
    'https://evil.example/"onmouseover="alert(1)', "https://evil.example/<script>",
    "https://evil.example/\\..\\", "https://evil .example/", "https://evil.example/\npath",
    "https://evil.example/\u202egnp.exe", "https://-evil.example/", "https://evil_example.com/",
    "https://[::1]/", "https://evil.example:99999/", "ftp://evil.example/", "vbscript:msgbox(1)",
    "https://" + "a" * 500 + ".example/",
])
def test_refused_links(given: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_policy_url(given)
    assert caught.value.field == "policy_url"


def test_the_host_shown_is_where_the_link_leads() -> None:
    assert host_of("https://intranet.example.com/policy") == "intranet.example.com"
    assert host_of("https://intranet:8443/x") == "intranet:8443"
    # A look-alike host (Cyrillic "а") is shown in its xn-- form, not as "apple.example".
    stored = check_policy_url("https://\u0430pple.example/policy")
    assert stored is not None and host_of(stored) == "xn--pple-43d.example"


def test_texts_are_trimmed_limited_and_plain() -> None:
    assert check_portal_text("intro", "  Hello\r\n\r\nWorld  ", 100) == "Hello\n\nWorld"
    assert check_portal_text("intro", "   ", 100) is None
    assert check_portal_text("intro", "<b>markup stays text</b>", 100) == "<b>markup stays text</b>"
    for bad in ("a\x00b", "a\x1bb", "visit \u202eelpmaxe.live", "a\u2066b"):
        with pytest.raises(InvalidInput):
            check_portal_text("intro", bad, 100)
    with pytest.raises(InvalidInput):
        check_portal_text("intro", "x" * 101, 100)


def test_paragraphs_split_on_blank_lines() -> None:
    assert paragraphs("One\nline two\n\n  \nThree\n\n") == ["One\nline two", "Three"]
    assert paragraphs(None) == [] and paragraphs("") == []
