"""HTTP hardening: headers, cookie names, upload spooling, client keys for throttling."""

from __future__ import annotations

from typing import IO

from flask import Flask, Request, Response, request
from werkzeug.wrappers import Response as AnyResponse

from appliance.crypto.spool import EncryptedSpool
from appliance.settings import Settings

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Robots-Tag": "noindex, nofollow",
}

# Responses a browser may keep privately but must ask about again before each use (no-cache with
# an ETag): the organisation's logo. Everything else but the static files is no-store.
REVALIDATED = frozenset({"reporter.logo"})


class SpoolingRequest(Request):
    """Uploads wait for the view in an encrypted spool, never as plaintext temp files."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        return EncryptedSpool()  # type: ignore[return-value]


def cookie_name(settings: Settings, purpose: str) -> str:
    # The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain; the local
    # demo over plain http cannot use it.
    return f"__Host-{purpose}" if settings.cookie_secure else f"appliance-{purpose}"


def set_session_cookie(response: AnyResponse, settings: Settings, purpose: str, token: str) -> None:
    response.set_cookie(cookie_name(settings, purpose), token, path="/", secure=settings.cookie_secure,
                        httponly=True, samesite="Strict")


def clear_session_cookie(response: AnyResponse, settings: Settings, purpose: str) -> None:
    response.delete_cookie(cookie_name(settings, purpose), path="/", secure=settings.cookie_secure,
                           httponly=True, samesite="Strict")


def client_address() -> str:
    """What throttles and rate limits count per client (the address nginx forwarded). It goes
    only to the host's ephemeral store, as an HMAC under a key replaced every UTC day
    (appliance/ephemeral): never to the database, a log or the logbook."""
    return request.remote_addr or "-"


def install_headers(app: Flask, settings: Settings) -> None:
    hsts = settings.base_url.startswith("https://")

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        if request.endpoint != "static" and not (request.endpoint in REVALIDATED and response.status_code in (200, 304)):
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        return response
