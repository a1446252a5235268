"""Route modules declare their routes on a RouteTable; the audience's package builds its blueprint
and registers each table explicitly (``build_blueprint()``), so no route module imports the
blueprint and no package imports its route modules for their side effects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class RouteTable:
    _rules: list[tuple[str, Callable[..., Any], dict[str, Any]]] = field(default_factory=list)
    _handlers: list[tuple[type[Exception], Callable[..., Any]]] = field(default_factory=list)

    def route(self, rule: str, **options: Any) -> Callable[[F], F]:
        def add(view: F) -> F:
            self._rules.append((rule, view, options))
            return view
        return add

    def get(self, rule: str, **options: Any) -> Callable[[F], F]:
        return self.route(rule, methods=["GET"], **options)

    def post(self, rule: str, **options: Any) -> Callable[[F], F]:
        return self.route(rule, methods=["POST"], **options)

    def errorhandler(self, exception: type[Exception]) -> Callable[[F], F]:
        def add(handler: F) -> F:
            self._handlers.append((exception, handler))
            return handler
        return add

    def register_on(self, blueprint: Blueprint) -> None:
        for rule, view, options in self._rules:
            blueprint.add_url_rule(rule, view_func=view, **options)
        for exception, handler in self._handlers:
            blueprint.register_error_handler(exception, handler)
