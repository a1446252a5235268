"""The legal team's room under /insiders/ (role insider-manager, per tenant): delayed disclosures
(MAR Art. 17(4)), PDMRs and their closely associated persons (Art. 19), the financial calendar
and its closed periods, the notice texts people confirm, the insider lists (Art. 18), and the
access events uploaded through the API counted by source and project.
Each route module declares its routes; build_blueprint registers them."""

from __future__ import annotations

from flask import Blueprint

from webapp.insiders import (
    access,
    calendar,
    disclosures,
    list_history,
    list_insiders,
    lists,
    notices,
    pdmrs,
    proposals,
    views,
)


def build_blueprint() -> Blueprint:
    blueprint = Blueprint("insiders", __name__, url_prefix="/insiders", template_folder="templates")
    for module in (views, access, disclosures, pdmrs, calendar, notices, lists, list_insiders, list_history, proposals):
        module.routes.register_on(blueprint)
    return blueprint
