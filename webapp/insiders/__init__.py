"""The legal team's room under /insiders/ (role insider-manager, per tenant): delayed disclosures
(MAR Art. 17(4)), PDMRs and their closely associated persons (Art. 19), the financial calendar
and its closed periods, and the notice texts people confirm. Insider lists (Art. 18) come next.
Each route module declares its routes; build_blueprint registers them."""

from __future__ import annotations

from flask import Blueprint

from webapp.insiders import calendar, disclosures, notices, pdmrs, views


def build_blueprint() -> Blueprint:
    blueprint = Blueprint("insiders", __name__, url_prefix="/insiders", template_folder="templates")
    for module in (views, disclosures, pdmrs, calendar, notices):
        module.routes.register_on(blueprint)
    return blueprint
