"""The analyst's outputs in the organiser's language: GNU gettext message catalogs.

The texts are written in English in the code (``_("...")``); every other language is one
catalog file, ``analyst/locale/<lang>.po`` (e.g. ``zh_TW.po``), made from the template
``analyst/locale/salary-analyst.pot`` (``pybabel extract -k _ -k N_ analyst -o
analyst/locale/salary-analyst.pot``, then ``pybabel init`` or ``pybabel update``).  Catalogs are
compiled in memory with Babel when first used (a few milliseconds), so no compiled ``.mo`` file
is kept in the repository or built at install time.

:func:`using` makes a language current for the code inside it (a context variable, so threads
and nested renders do not mix); :func:`_` translates with the current one.
"""

from __future__ import annotations

import contextvars
import functools
import gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from protocol.errors import SurveyError

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SOURCE_LANGUAGE = "en"
DOMAIN = "salary-analyst"

_current: contextvars.ContextVar[gettext.NullTranslations] = contextvars.ContextVar(
    "translations", default=gettext.NullTranslations())


def available() -> list[str]:
    """The languages outputs can be written in: English and every catalog shipped."""
    return [SOURCE_LANGUAGE] + sorted(p.stem for p in LOCALE_DIR.glob("*.po"))


def resolve(lang: str) -> str:
    """The catalog name for ``lang`` (``zh-TW``, ``zh_tw`` -> ``zh_TW``); raises
    :class:`SurveyError` naming the available languages."""
    wanted = lang.strip().replace("-", "_").lower()
    for name in available():
        if name.lower() == wanted:
            return name
    raise SurveyError(f"no catalog for language {lang!r}; available: {', '.join(available())}")


@functools.lru_cache(maxsize=8)
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of ``lang`` (the identity for English)."""
    name = resolve(lang)
    if name == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(LOCALE_DIR / f"{name}.po", "rb") as fh:
        catalog = read_po(fh, locale=name, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


@contextmanager
def using(lang: str | None) -> Iterator[None]:
    """Translate with ``lang`` (None: leave the current language) inside the block."""
    if lang is None:
        yield
        return
    token = _current.set(translations(lang))
    try:
        yield
    finally:
        _current.reset(token)


def _(message: str) -> str:
    """``message`` in the current language."""
    return _current.get().gettext(message)


def N_(message: str) -> str:
    """Marks a message for the catalog without translating it here (translated where shown)."""
    return message


def language() -> str:
    """The current language's tag for HTML (``en``, ``zh-TW``)."""
    info = _current.get().info()
    return str(info.get("language", SOURCE_LANGUAGE)).replace("_", "-") or SOURCE_LANGUAGE
