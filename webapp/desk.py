"""What every audience's desk shares: the request's unit of work and its savepoints.

A desk is the narrow face of the appliance one audience's views see (the reporter's, the
handler's, the administrator's, the sign-in pages'): each subclass exposes only the services
that audience may use, built on the request's one session. Views never commit; the request
does (webapp/unit_of_work.py).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Self

from appliance.errors import ApplianceError
from appliance.services import Services
from webapp.unit_of_work import RequestUnitOfWork, unit_of_work


class Desk:
    def __init__(self, unit: RequestUnitOfWork) -> None:
        self._unit = unit

    @classmethod
    def of_request(cls) -> Self:
        """The desk on the current request's unit of work."""
        return cls(unit_of_work())

    @property
    def _services(self) -> Services:
        return self._unit.services

    def attempt(self, keep: tuple[type[ApplianceError], ...] = ()) -> AbstractContextManager[None]:
        """Try one domain operation in a savepoint: if it raises, its writes go and the error
        reaches the view (which re-renders its form); the rest of the request still commits.

            try:
                with desk.attempt():
                    desk.cases.assign(principal, case_id, assignee)
            except InvalidInput:
                return render_case(case_id, assign_error=...), 400

        ``keep``: errors after which the attempt's writes stay (RequestUnitOfWork.attempt).
        """
        return self._unit.attempt(keep)

    def rollback_now(self) -> None:
        """Drop the request's writes so far: an error handler that reads after a failed view."""
        self._unit.rollback_now()
