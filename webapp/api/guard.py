"""The ``api:<scope>`` access policy: a bearer token, never a cookie.

In order, before anything of the body is read: a body over ``api_max_body_bytes`` is refused
(413; for a multipart body to a route that takes files, over the upload limit instead); a client
that failed too often to present a valid token is paused (429); the token must
be valid (401: missing, malformed, unknown, wrong, revoked and expired all look the same) and
carry the scope (403); each token has its own rate limit (429 with ``Retry-After``). Failed
attempts are counted only in the host's ephemeral store: the request's transaction rolls back.
"""

from __future__ import annotations

from flask import current_app, g, request

from appliance.api_tokens.service import Scope
from appliance.errors import AuthenticationFailed, TooLarge
from webapp.api.desk import ApiDesk
from webapp.api.forms import MEDIA_TYPE as FORM_MEDIA_TYPE
from webapp.api.openapi import accepts_uploads
from webapp.requestctx import app_context
from webapp.security import client_address


def enforce(scope: Scope) -> None:
    limit = app_context().settings.api_max_body_bytes
    if request.mimetype == FORM_MEDIA_TYPE and accepts_uploads(current_app.view_functions.get(request.endpoint or "")):
        limit = request.max_content_length or limit  # the portal's: the largest report with its files
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(limit)
    desk = ApiDesk.of_request()
    client = client_address()
    desk.refuse_locked_client(client)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed()
        principal = desk.authenticate(token.strip())
    except AuthenticationFailed:
        desk.count_failure(client)
        raise
    principal.require(scope)
    desk.take_request_slot(principal)
    g.api_principal = principal
