"""Survey set-up by the organiser: manifest, participation tokens, node bundle, analyst secrets.

Outputs (in the survey directory):
- ``manifest.json``      public; give it to employees and nodes (canonical JSON, hash = identity)
- ``tokens.txt``         one participation token per line; hand one to each employee, then delete
- ``node-bundle.json``   for every node operator: the manifest, token *hashes*, analyst credential hash
- ``analyst-secret.json`` 0600, stays with the analyst: HPKE private key and the analyst credential
- with a browser page: ``page/`` (its two files, for the organiser's own site and ``check-page``)
  and ``links.txt`` (one participation link per token, secret like the tokens)
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from protocol.envelope import generate_keypair, private_key_from_bytes
from protocol.errors import InvalidManifest, SurveyError
from protocol.manifest import DEFAULT_CATEGORIES, Manifest, NodeInfo, format_time, load_manifest
from protocol.tokens import new_token, token_hash
from protocol.webpage import BUNDLE_KEY, WebPage
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

MANIFEST_FILE = "manifest.json"
TOKENS_FILE = "tokens.txt"
BUNDLE_FILE = "node-bundle.json"
SECRET_FILE = "analyst-secret.json"
PAGE_DIR = "page"
LINKS_FILE = "links.txt"
#: the page ``salary-analyst create`` pins when given no --web-page (built from web/page/)
PACKAGED_PAGE = Path(__file__).resolve().parent / "webpage"


def packaged_page() -> WebPage | None:
    """The page packaged with this program, if both its files are there."""
    if not all((PACKAGED_PAGE / name).is_file() for name in ("index.html", "salary-page.js")):
        return None
    return WebPage.from_dir(PACKAGED_PAGE)


def page_url(manifest: Manifest) -> str:
    """Where node 0 serves the survey's page to browsers."""
    return f"{manifest.nodes[0].browser_url}/v1/surveys/{manifest.survey_id}/page/"


def participation_link(manifest: Manifest, token: str) -> str:
    """The link an employee opens: node 0's page, the token and the manifest hash in the
    fragment (which a browser never sends to a server)."""
    return f"{page_url(manifest)}#t={token}&m={manifest.hash_hex()}"


def load_node_info(path: Path) -> NodeInfo:
    """Read a node's public ``node.json`` (from ``mpc-node keygen``)."""
    try:
        info = NodeInfo(**json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError):
        raise InvalidManifest(f"{path} is not a node's public file (node.json from 'mpc-node keygen')") from None
    info.validate()
    return info


def create_survey(
    out_dir: Path,
    nodes: list[NodeInfo],
    *,
    survey_id: str,
    title: str = "Salary survey",
    model: str = "semi-honest",
    threshold: int | None = None,
    tokens: int = 100,
    closes_at: dt.datetime | None = None,
    salary_max: int = 1_000_000,
    salary_unit: str = "EUR/month",
    min_group_size: int = 5,
    job_categories: tuple[str, ...] = (),
    salary_bands: tuple[int, ...] = (),
    dp_epsilon: str = "",
    gender_labels: tuple[tuple[str, str], ...] = (),
    job_labels: tuple[tuple[str, str], ...] = (),
    components: tuple[str, ...] = (),
    pay_period: str = "",
    variable_max: int = 0,
    variable_bands: tuple[int, ...] = (),
    hours_max: int = 0,
    hourly_max: int = 0,
    hourly_bands: tuple[int, ...] = (),
    organisation: str = "",
    reporting_period: str = "",
    language: str = "",
    web_origins: tuple[str, ...] = (),
    web_page: WebPage | None = None,
) -> Manifest:
    """Write a new survey directory (refuses to overwrite one) and return its manifest.  The
    arguments from ``components`` to ``reporting_period`` make a complete survey
    (docs/COMPLETE_SURVEY.md); ``web_page`` is pinned in the manifest and carried to the nodes."""
    if tokens < 1:
        raise SurveyError("issue at least one participation token")
    if web_page is not None:
        web_page.check()
    if threshold is None:
        threshold = (len(nodes) - 1) // 2
    now = dt.datetime.now(dt.timezone.utc)
    closes_at = closes_at or now + dt.timedelta(days=14)
    sk, pk = generate_keypair()
    manifest = Manifest(
        survey_id=survey_id, title=title, model=model, threshold=threshold, nodes=tuple(nodes),
        analyst_public_key=pk.hex(), closes_at=format_time(closes_at), salary_unit=salary_unit,
        salary_max=salary_max, min_group_size=min_group_size, categories=DEFAULT_CATEGORIES,
        job_categories=job_categories, salary_bands=salary_bands, dp_epsilon=dp_epsilon,
        gender_labels=gender_labels, job_labels=job_labels, components=components, pay_period=pay_period,
        variable_max=variable_max, variable_bands=variable_bands, hours_max=hours_max, hourly_max=hourly_max,
        hourly_bands=hourly_bands, organisation=organisation, reporting_period=reporting_period,
        language=language, web_page_sha256=web_page.script_sha256() if web_page else "", web_origins=web_origins,
        created_at=format_time(now),
    )
    manifest.validate()
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / MANIFEST_FILE).exists():
        raise SurveyError(f"{out_dir} already holds a survey; choose another directory")
    credential = new_token()
    token_list = [new_token() for _ in range(tokens)]
    (out_dir / MANIFEST_FILE).write_bytes(manifest.canonical_bytes())
    fd = os.open(out_dir / TOKENS_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(token_list) + "\n")
    bundle = {
        "manifest": json.loads(manifest.canonical_bytes()),
        "token_hashes": [token_hash(t) for t in token_list],
        "analyst_credential_sha256": token_hash(credential),
    }
    if web_page is not None:
        bundle[BUNDLE_KEY] = web_page.to_bundle()
        _write_page(out_dir, manifest, web_page, token_list)
    (out_dir / BUNDLE_FILE).write_text(json.dumps(bundle) + "\n")
    fd = os.open(out_dir / SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"survey_id": survey_id, "manifest_hash": manifest.hash_hex(),
                   "hpke_private_key": sk.hex(), "credential": credential}, fh)
    return manifest


def _write_page(out_dir: Path, manifest: Manifest, page: WebPage, tokens: list[str]) -> None:
    """The organiser's copy of the page and the participation links (secret, like the tokens)."""
    page.save(out_dir / PAGE_DIR)
    fd = os.open(out_dir / LINKS_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(participation_link(manifest, t) + "\n" for t in tokens))


def load_analyst_secret(survey_dir: Path) -> tuple[Manifest, X25519PrivateKey, str]:
    """The survey's manifest, the analyst's HPKE private key and credential."""
    manifest = load_manifest(survey_dir / MANIFEST_FILE)
    try:
        secret = json.loads((survey_dir / SECRET_FILE).read_text())
        sk = private_key_from_bytes(bytes.fromhex(secret["hpke_private_key"]))
        cred = secret["credential"]
    except (OSError, ValueError, KeyError):
        raise SurveyError(f"cannot read the analyst's secret in {survey_dir / SECRET_FILE}") from None
    if secret.get("manifest_hash") != manifest.hash_hex():
        raise SurveyError("the analyst secret belongs to another manifest")
    return manifest, sk, cred
