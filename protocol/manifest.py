"""The survey manifest: everything every party must agree on.

The manifest's identity is the SHA-256 of its canonical JSON (sorted keys, no spaces, UTF-8).
Contributors refuse to submit unless every node serves a manifest with the same hash, so one
lying node cannot substitute its own keys.  Every ciphertext is bound to this hash.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .answers import Choices
from .encoding import ENCODING_ID, MAX_CELL_BANDS, MAX_HOURS, Component, PayPeriod, Scheme
from .errors import InvalidManifest
from .field import DEFAULT_PRIME, check_prime_params
from .tls import cert_fingerprint

MANIFEST_VERSION = 1
#: the complete survey's fields, in the JSON only when set
_WHEN_SET = ("components", "pay_period", "variable_max", "variable_bands", "hours_max", "hourly_max", "hourly_bands",
             "organisation", "reporting_period", "language", "web_page_sha256", "web_origins")
#: the longest organisation name or reporting period a manifest accepts
MAX_FILING_CHARS = 200
MODELS = ("semi-honest", "malicious")
DEFAULT_CATEGORIES = ("female", "male", "other")
_SURVEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_LABEL_CHARS = 64
_HEX32 = re.compile(r"^[0-9a-f]{64}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")
MAX_LANGUAGE_CHARS = 35
_ORIGIN = re.compile(r"^https://[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$")
MAX_WEB_ORIGINS = 16


@dataclass(frozen=True)
class NodeInfo:
    """A node's public identity, as produced by ``mpc-node keygen``."""

    name: str
    url: str  # HTTPS base URL of the ingest API, e.g. https://127.0.0.1:8441
    mpc_address: str  # host:port where the node's MPyC party listens
    hpke_public_key: str  # hex, raw X25519 public key (32 bytes)
    tls_cert_pem: str  # self-signed certificate used for HTTPS and for the MPC links
    tls_cert_sha256: str  # hex SHA-256 of the certificate's DER encoding
    #: the HTTPS base URL browsers use (a TLS-terminating proxy with a browser-trusted
    #: certificate in front of the node); "" = browsers use ``url``; in the JSON only when set
    web_url: str = ""

    @property
    def browser_url(self) -> str:
        """The base URL a browser uses for this node: ``web_url`` when set, else ``url``."""
        return self.web_url or self.url

    def to_json_dict(self) -> dict[str, str]:
        d = asdict(self)
        if not self.web_url:
            del d["web_url"]
        return d

    def validate(self) -> None:
        if not self.url.startswith("https://"):
            raise InvalidManifest(f"node {self.name}: URL must be https://")
        if self.web_url and not self.web_url.startswith("https://"):
            raise InvalidManifest(f"node {self.name}: web_url must be https://")
        host, _, port = self.mpc_address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidManifest(f"node {self.name}: mpc_address must be host:port")
        if not _HEX32.fullmatch(self.hpke_public_key):
            raise InvalidManifest(f"node {self.name}: HPKE public key must be 32 bytes of hex")
        try:
            fp = cert_fingerprint(self.tls_cert_pem)
        except ValueError as exc:
            raise InvalidManifest(f"node {self.name}: {exc}") from None
        if fp != self.tls_cert_sha256:
            raise InvalidManifest(f"node {self.name}: certificate does not match its fingerprint")


@dataclass(frozen=True)
class Manifest:
    """A survey definition.  Construct with :func:`new_manifest` or :func:`manifest_from_json`."""

    survey_id: str
    title: str
    model: str
    threshold: int
    nodes: tuple[NodeInfo, ...]
    analyst_public_key: str
    closes_at: str  # ISO 8601, UTC, e.g. 2026-12-31T23:59:59Z
    salary_unit: str = "EUR/month"
    salary_max: int = 1_000_000
    min_group_size: int = 5
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    #: job categories (the Directive's "categories of workers"); () = none asked
    job_categories: tuple[str, ...] = ()
    #: salary band boundaries above 0 (medians and quartiles are interpolated inside bands)
    salary_bands: tuple[int, ...] = ()
    #: differential privacy budget epsilon as a decimal string; "" = no noise
    dp_epsilon: str = ""
    #: the organiser's labels (key, label) for some gender categories, e.g. ("female", "女"):
    #: answers match a key or its label, outputs show the label; in the JSON only when set
    gender_labels: tuple[tuple[str, str], ...] = ()
    #: the same for job categories
    job_labels: tuple[tuple[str, str], ...] = ()
    #: a complete survey (docs/COMPLETE_SURVEY.md): what it collects besides basic pay
    #: (``Component`` values, "basic" first), the pay period, and the bounds and bands of variable
    #: pay, hours and hourly pay (hundredths of the unit); every one is in the JSON only when set
    components: tuple[str, ...] = ()
    pay_period: str = ""
    variable_max: int = 0
    variable_bands: tuple[int, ...] = ()
    hours_max: int = 0
    hourly_max: int = 0
    hourly_bands: tuple[int, ...] = ()
    #: who files the report (employer or organiser) and the period it covers (e.g. "2026"), shown
    #: on the report; in the JSON only when set
    organisation: str = ""
    reporting_period: str = ""
    #: the organiser's language for the page and the report (BCP 47, e.g. "zh-TW")
    language: str = ""
    #: SHA-256 (hex) of the page's script ``salary-page.js`` that every node serves
    web_page_sha256: str = ""
    #: origins besides the nodes' own page origins allowed to call the upload endpoints from a
    #: browser, e.g. ("https://survey.example.org",); all three in the JSON only when set
    web_origins: tuple[str, ...] = ()
    field_modulus: int = DEFAULT_PRIME
    encoding: str = ENCODING_ID
    version: int = MANIFEST_VERSION
    created_at: str = field(default="")

    @property
    def n(self) -> int:
        return len(self.nodes)

    def scheme(self) -> Scheme:
        """The record layout this survey's submissions use (see protocol.encoding).  Computed once
        per (immutable) manifest: the contributor asks for it per CSV row."""
        return self._scheme

    @functools.cached_property
    def _scheme(self) -> Scheme:
        return Scheme.of(self.categories, self.salary_max, self.job_categories, self.salary_bands,
                         variable_max=self.variable_max if Component.VARIABLE in self.components else 0,
                         variable_bands=self.variable_bands,
                         hours_max=self.hours_max if Component.HOURS in self.components else 0,
                         hourly_max=self.hourly_max, hourly_bands=self.hourly_bands)

    def gender_choices(self) -> Choices:
        """The gender question: keys and the organiser's labels."""
        return self._gender_choices

    def job_choices(self) -> Choices:
        """The job-category question (no keys when the survey declares none)."""
        return self._job_choices

    @functools.cached_property
    def _gender_choices(self) -> Choices:
        return Choices.of("gender", self.categories, dict(self.gender_labels))

    @functools.cached_property
    def _job_choices(self) -> Choices:
        return Choices.of("job category", self.job_categories, dict(self.job_labels))

    def currency(self) -> str:
        """The ISO 4217 code the salary unit starts with (``TWD`` of ``TWD/month``), or ""."""
        code = self.salary_unit.split("/", 1)[0].strip()
        return code if len(code) == 3 and code.isascii() and code.isalpha() and code.isupper() else ""

    def vector_length(self) -> int:
        """Field elements per encoded submission, record and proof (see protocol.encoding)."""
        return self.scheme().vector_length

    def validate(self) -> None:
        """Raise :class:`InvalidManifest` unless the manifest is internally consistent."""
        if self.version != MANIFEST_VERSION:
            raise InvalidManifest(f"unsupported manifest version {self.version}")
        if not _SURVEY_ID.fullmatch(self.survey_id):
            raise InvalidManifest("survey id must be 1-64 characters of letters, digits, '.', '_' or '-'")
        if self.model not in MODELS:
            raise InvalidManifest(f"model must be one of {', '.join(MODELS)}")
        if self.n < 3:
            raise InvalidManifest(f"a survey needs at least 3 nodes, this one has {self.n}")
        try:
            check_prime_params(self.field_modulus, self.n, self.threshold)
        except ValueError as exc:
            raise InvalidManifest(str(exc)) from None
        for node in self.nodes:
            node.validate()
        if len({nd.hpke_public_key for nd in self.nodes}) != self.n:
            raise InvalidManifest("two nodes share an HPKE key")
        if len({nd.tls_cert_sha256 for nd in self.nodes}) != self.n:
            raise InvalidManifest("two nodes share a TLS certificate")
        if not _HEX32.fullmatch(self.analyst_public_key):
            raise InvalidManifest("analyst public key must be 32 bytes of hex")
        if self.encoding != ENCODING_ID:
            raise InvalidManifest(f"the survey uses record encoding {self.encoding!r}, this version reads only "
                                  f"{ENCODING_ID!r}: finish that survey with the version that created it, or "
                                  "create a new survey")
        if not self.categories or len(set(self.categories)) != len(self.categories):
            raise InvalidManifest("categories must be distinct and non-empty")
        if "male" not in self.categories:
            raise InvalidManifest("categories must include 'male' (the pay-gap reference)")
        if any(not isinstance(c, str) or c != c.strip().lower() or not c for c in self.categories):
            raise InvalidManifest("categories must be lower-case words (answers are matched case-insensitively)")
        if not 0 < self.salary_max < 10**12:
            raise InvalidManifest("salary upper bound must be between 1 and 10^12")
        if self.min_group_size < 1:
            raise InvalidManifest("minimum group size k must be at least 1")
        if len(set(self.job_categories)) != len(self.job_categories) or len(self.job_categories) > 64:
            raise InvalidManifest("job categories must be distinct, at most 64")
        if any(not isinstance(c, str) or not c or c != c.strip().lower() or "," in c for c in self.job_categories):
            raise InvalidManifest("job categories must be lower-case names without commas")
        self._validate_labels()
        if any(not isinstance(b, int) or isinstance(b, bool) for b in self.salary_bands):
            raise InvalidManifest("salary bands must be whole numbers")
        self._validate_components()
        self._validate_filing()
        self._validate_web()
        try:
            sc = self.scheme()
        except ValueError as exc:
            raise InvalidManifest(str(exc)) from None
        if sc.cell_bands > MAX_CELL_BANDS:
            what = "salary bands" if not sc.complete else "the bands of every value"
            raise InvalidManifest(f"genders x job categories x {what} is {sc.cell_bands}, at most "
                                  f"{MAX_CELL_BANDS}: each submission would be {sc.vector_length:,} field elements "
                                  f"({16 * sc.vector_length:,} bytes per node)")
        if self.dp_epsilon:
            from .dp import parse_epsilon
            try:
                parse_epsilon(self.dp_epsilon)
            except ValueError as exc:
                raise InvalidManifest(f"dp_epsilon: {exc}") from None
        parse_time(self.closes_at)

    def _validate_components(self) -> None:
        """A complete survey's fields: present only with the component they describe."""
        names = [c.value for c in Component]
        if self.components and (self.components[0] != Component.BASIC or len(set(self.components)) != len(self.components)
                                or any(c not in names for c in self.components)
                                or list(self.components) != sorted(self.components, key=names.index)):
            raise InvalidManifest("components must be 'basic' followed by any of 'variable', 'hours', in that order")
        has = set(self.components)
        if self.components and self.pay_period not in [p.value for p in PayPeriod]:
            raise InvalidManifest("pay_period must be 'annual' or 'monthly' in a survey with components")
        if not self.components and self.pay_period:
            raise InvalidManifest("pay_period needs components (e.g. [\"basic\", \"variable\"])")
        if (Component.VARIABLE in has) != (self.variable_max > 0) or (not self.variable_max and self.variable_bands):
            raise InvalidManifest("variable_max (above 0) and variable_bands go with the component 'variable', "
                                  "and only with it")
        if (Component.HOURS in has) != (self.hours_max > 0) or (not self.hours_max and (self.hourly_max or self.hourly_bands)):
            raise InvalidManifest("hours_max, hourly_max and hourly_bands go with the component 'hours', and only with it")
        if self.hours_max and not (0 < self.hours_max <= MAX_HOURS and 0 < self.hourly_max < 10**12):
            raise InvalidManifest(f"hours_max must be 1 to {MAX_HOURS} hours and hourly_max (hundredths of the unit per "
                                  "hour) between 1 and 10^12")
        if self.variable_max >= 10**12 or self.variable_max > self.salary_max:
            raise InvalidManifest("variable_max must be at most the salary bound (the pay level includes variable pay)")

    def _validate_filing(self) -> None:
        for name in ("organisation", "reporting_period"):
            v = getattr(self, name)
            if v and (v != v.strip() or len(v) > MAX_FILING_CHARS
                      or any(unicodedata.category(c).startswith("C") for c in v)):
                raise InvalidManifest(f"{name}: {v!r} must be 1 to {MAX_FILING_CHARS} characters, without control "
                                      "characters or surrounding spaces")

    def _validate_web(self) -> None:
        """The browser page's fields (see :func:`page_origin` for how origins are compared)."""
        if self.language and (len(self.language) > MAX_LANGUAGE_CHARS or not _LANGUAGE.fullmatch(self.language)):
            raise InvalidManifest(f"language: {self.language!r} is not a BCP 47 tag such as 'en', 'de' or 'zh-TW' "
                                  f"(at most {MAX_LANGUAGE_CHARS} characters)")
        if self.web_page_sha256 and not _HEX32.fullmatch(self.web_page_sha256):
            raise InvalidManifest("web_page_sha256 must be 64 lower-case hex digits (the SHA-256 of salary-page.js)")
        if self.web_origins and (len(self.web_origins) > MAX_WEB_ORIGINS
                                 or len(set(self.web_origins)) != len(self.web_origins)):
            raise InvalidManifest(f"web_origins must be 1 to {MAX_WEB_ORIGINS} distinct origins")
        for origin in self.web_origins:
            m = _ORIGIN.fullmatch(origin)
            if not m or (m.group(2) is not None and not 0 < int(m.group(2)[1:]) < 65536):
                raise InvalidManifest(f"web_origins: {origin!r} is not an origin https://HOST[:PORT] (lower case, "
                                      "port 1-65535, no path or trailing slash)")

    def browser_origins(self) -> tuple[str, ...]:
        """The origins allowed to call the nodes' upload endpoints from a browser: every node's
        page origin (of its ``web_url``, else its ``url``), then ``web_origins``; no repeats.
        Computed once per (immutable) manifest: a node asks on every cross-origin request."""
        return self._browser_origins

    @functools.cached_property
    def _browser_origins(self) -> tuple[str, ...]:
        found = [page_origin(nd.browser_url) for nd in self.nodes] + list(self.web_origins)
        return tuple(dict.fromkeys(o for o in found if o))

    def _validate_labels(self) -> None:
        for name, labels, keys in (("gender_labels", self.gender_labels, self.categories),
                                   ("job_labels", self.job_labels, self.job_categories)):
            if len({k for k, _ in labels}) != len(labels) or any(k not in keys for k, _ in labels):
                raise InvalidManifest(f"{name} must give at most one label to each declared category")
            for _, label in labels:
                if (not label or label != label.strip() or len(label) > MAX_LABEL_CHARS
                        or any(c in ",=" or unicodedata.category(c).startswith("C") for c in label)):
                    raise InvalidManifest(f"{name}: {label!r} is not a label (1 to {MAX_LABEL_CHARS} characters, "
                                          "no commas, '=' or control characters, no surrounding spaces)")
        for choices in (self.gender_choices(), self.job_choices()):
            clash = choices.collisions()
            if clash:
                raise InvalidManifest(f"the {choices.what} label {clash[0]!r} names two different categories "
                                      "(labels and keys are compared after NFKC normalisation and case folding)")

    def to_json_dict(self) -> dict[str, Any]:
        d = asdict(self)
        # Emitted only when set, so that a manifest without labels or components keeps its
        # canonical bytes.
        for name in _WHEN_SET:
            if not getattr(self, name):
                del d[name]
            elif isinstance(getattr(self, name), tuple):
                d[name] = list(getattr(self, name))
        for name in ("gender_labels", "job_labels"):
            if getattr(self, name):
                d[name] = dict(getattr(self, name))
            else:
                del d[name]
        d["nodes"] = [nd.to_json_dict() for nd in self.nodes]
        d["categories"] = list(self.categories)
        d["job_categories"] = list(self.job_categories)
        d["salary_bands"] = list(self.salary_bands)
        # Field modulus as a decimal string: JSON numbers above 2^53 are not portable.
        d["field_modulus"] = str(self.field_modulus)
        return d

    @functools.cached_property
    def _canonical(self) -> bytes:
        # Computed once per (immutable) manifest: every sealed share binds the hash.
        return json.dumps(self.to_json_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def canonical_bytes(self) -> bytes:
        return self._canonical

    def hash(self) -> bytes:
        """32-byte identity of this manifest."""
        return hashlib.sha256(self._canonical).digest()

    def hash_hex(self) -> str:
        return self.hash().hex()

    def closes_at_dt(self) -> dt.datetime:
        return parse_time(self.closes_at)

    def is_past_closing(self, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now(dt.timezone.utc)
        return now >= self.closes_at_dt()


def page_origin(url: str) -> str:
    """The origin a browser sends for a page under ``url`` (``https://host[:port]``, the host in
    lower case, the default port 443 left out, as browsers write it); "" if ``url`` has no host."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname or ""
    if not host:
        return ""
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}" + (f":{port}" if port not in (None, 443) else "")


def parse_time(text: str) -> dt.datetime:
    """Parse an ISO 8601 time; naive times are refused (ambiguous across nodes)."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidManifest(f"closing time {text!r} is not ISO 8601") from None
    if when.tzinfo is None:
        raise InvalidManifest("closing time must carry a time zone, e.g. 2026-12-31T23:59:59Z")
    return when.astimezone(dt.timezone.utc)


def format_time(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def manifest_from_json(data: bytes | str | dict[str, Any]) -> Manifest:
    """Parse and validate a manifest; raises :class:`InvalidManifest` with a clear reason."""
    try:
        obj = json.loads(data) if isinstance(data, (bytes, str)) else data
    except (ValueError, UnicodeDecodeError):
        raise InvalidManifest("manifest is not valid JSON") from None
    if not isinstance(obj, dict):
        raise InvalidManifest("manifest must be a JSON object")
    try:
        _only_when_set(obj)
        for name, kind in (("categories", str), ("job_categories", str), ("salary_bands", int), ("components", str),
                           ("variable_bands", int), ("hourly_bands", int), ("web_origins", str)):
            if name in obj and (not isinstance(obj[name], list)
                                or any(not isinstance(v, kind) or isinstance(v, bool) for v in obj[name])):
                raise InvalidManifest(f"manifest field {name} must be a list of "
                                      + ("strings" if kind is str else "whole numbers"))
        nodes = tuple(NodeInfo(**nd) for nd in obj["nodes"])
        kwargs = dict(obj)
        kwargs["nodes"] = nodes
        kwargs["categories"] = tuple(obj.get("categories", DEFAULT_CATEGORIES))
        kwargs["job_categories"] = tuple(obj.get("job_categories", ()))
        kwargs["salary_bands"] = tuple(obj.get("salary_bands", ()))
        for name in ("components", "variable_bands", "hourly_bands", "web_origins"):
            if name in obj:
                kwargs[name] = tuple(obj[name])
        kwargs["field_modulus"] = int(obj.get("field_modulus", DEFAULT_PRIME))
        for name in ("gender_labels", "job_labels"):
            kwargs[name] = _labels(obj, name)
        m = Manifest(**kwargs)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidManifest(f"manifest has missing or unexpected fields ({exc.__class__.__name__}: {exc})") from None
    for name in ("threshold", "salary_max", "min_group_size", "version", "variable_max", "hours_max", "hourly_max"):
        if not isinstance(getattr(m, name), int) or isinstance(getattr(m, name), bool):
            raise InvalidManifest(f"manifest field {name} must be an integer")
    for name in ("survey_id", "title", "model", "analyst_public_key", "closes_at", "salary_unit", "encoding",
                 "created_at", "dp_epsilon", "pay_period", "organisation", "reporting_period", "language",
                 "web_page_sha256"):
        if not isinstance(getattr(m, name), str):
            raise InvalidManifest(f"manifest field {name} must be a string")
    for nd in m.nodes:
        for name in ("name", "url", "mpc_address", "hpke_public_key", "tls_cert_pem", "tls_cert_sha256", "web_url"):
            if not isinstance(getattr(nd, name), str):
                raise InvalidManifest(f"node field {name} must be a string")
    m.validate()
    return m


def _only_when_set(obj: dict[str, Any]) -> None:
    """Refuse the browser page's fields present but empty: written only when set, an empty one
    would not round-trip to the same bytes."""
    for name in ("language", "web_page_sha256", "web_origins"):
        if name in obj and obj[name] in ("", []):
            raise InvalidManifest(f"manifest field {name} is empty (leave it out instead)")
    nodes = obj.get("nodes")
    if isinstance(nodes, list) and any(isinstance(nd, dict) and nd.get("web_url") == "" for nd in nodes):
        raise InvalidManifest("node field web_url is empty (leave it out instead)")


def _labels(obj: dict[str, Any], name: str) -> tuple[tuple[str, str], ...]:
    """A manifest's label object (key -> label) as pairs; absent is none, empty is refused (it
    would not round-trip to the same bytes)."""
    if name not in obj:
        return ()
    v = obj[name]
    if not isinstance(v, dict) or not v or any(not isinstance(k, str) or not isinstance(x, str) for k, x in v.items()):
        raise InvalidManifest(f"manifest field {name} must be a non-empty object of strings")
    return tuple(v.items())


def load_manifest(path: str | Path) -> Manifest:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidManifest(f"cannot read manifest {path}: {exc.strerror}") from None
    return manifest_from_json(data)


def save_manifest(m: Manifest, path: str | Path) -> None:
    Path(path).write_bytes(m.canonical_bytes())
