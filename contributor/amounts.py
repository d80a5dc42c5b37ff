"""How a contributor's amounts are written: the decimal mark (``--decimal , | . | LOCALE``) and
the currency codes and symbols that the survey's unit allows beside them.

The currency symbols come from the Unicode CLDR data in Babel (``TWD``: ``NT$`` and ``$``;
``EUR``: ``€``), so no table is kept here; the decimal mark of a locale name (``de_DE``: ``,``)
comes from the same data.
"""

from __future__ import annotations

import functools

from protocol.answers import AmountFormat, DecimalMark
from protocol.errors import InvalidSubmission
from protocol.manifest import Manifest

#: locales whose spellings of a currency's symbol are accepted (besides the code itself)
_SYMBOL_LOCALES = ("en", "en_US", "en_GB", "zh_Hant_TW", "zh_Hans_CN", "ja_JP", "ko_KR", "de_DE", "de_CH", "fr_FR",
                   "es_ES", "it_IT", "nl_NL", "pl_PL", "sv_SE", "pt_BR", "en_IN", "en_AU", "en_CA")


@functools.lru_cache(maxsize=32)
def currency_marks(code: str) -> frozenset[str]:
    """The ISO code and the symbols CLDR gives it in common locales (empty for "")."""
    if not code:
        return frozenset()
    from babel.numbers import get_currency_symbol

    return frozenset({code} | {get_currency_symbol(code, loc) for loc in _SYMBOL_LOCALES})


def decimal_mark(spec: str | None) -> DecimalMark | None:
    """``,`` or ``.`` as given, the decimal mark of a locale name (``de_DE``, ``zh-TW``), or None
    (read each amount the one way it can be read)."""
    if spec is None or not spec.strip():
        return None
    spec = spec.strip()
    if spec in (",", "."):
        return DecimalMark(spec)
    from babel import Locale, UnknownLocaleError
    from babel.numbers import get_decimal_symbol

    try:
        symbol = get_decimal_symbol(Locale.parse(spec.replace("-", "_")))
    except (UnknownLocaleError, ValueError):
        raise InvalidSubmission(f"--decimal takes ',', '.' or a locale name such as de_DE, not {spec!r}") from None
    if symbol not in (",", "."):
        raise InvalidSubmission(f"the locale {spec} writes decimals with {symbol!r}; give --decimal , or --decimal .")
    return DecimalMark(symbol)


def amount_format(manifest: Manifest, decimal: DecimalMark | None = None) -> AmountFormat:
    """The format amounts for this survey are read in: ``decimal`` (None: each amount read the one
    way it can be), and the survey's currency code and symbols."""
    code = manifest.currency()
    return AmountFormat(decimal, currency_marks(code), code)
