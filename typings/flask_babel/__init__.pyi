# The part of Flask-Babel the appliance uses (Flask-Babel ships no type information).
import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Flask

class Babel:
    def __init__(self, app: Flask | None = ..., *, locale_selector: Callable[[], str | None] | None = ...,
                 **kwargs: Any) -> None: ...

def gettext(string: str, **variables: Any) -> str: ...
# A LazyString at run time, translated when rendered; typed as the str it stands for, which is how
# WTForms (labels, descriptions, messages) and Jinja use it.
def lazy_gettext(string: str, **variables: Any) -> str: ...
def format_date(date: dt.date | None = ..., format: str | None = ..., rebase: bool = ...) -> str: ...
def format_datetime(datetime: dt.datetime | None = ..., format: str | None = ..., rebase: bool = ...) -> str: ...
