"""What the registry does, apart from HTTP: accounts, publishing, verification, search, version history."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Integer, Text, cast, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from iotcop.label.level import label_level
from iotcop.label.signing import ALGORITHM, LabelInvalid, key_id, verify_label
from iotcop.model import Assessment
from iotcop.registry.models import (
    ApiToken,
    AuditEntry,
    Label,
    LabelProductId,
    LabelReport,
    Manufacturer,
    Meta,
    Product,
    SigningKey,
    utcnow,
)
from iotcop.registry.security import new_token, same_hash, token_hash, token_prefix

MAX_FINDINGS_KEPT = 500  # per version, for the "what changed" lists


class RegistryError(Exception):
    """A refusal the client can act on: HTTP status and one sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def audit(session: Session, actor: str, action: str, target: str, client: str | None = None,
          **detail: Any) -> None:
    session.add(AuditEntry(at=utcnow(), actor=actor[:220], action=action, target=str(target)[:255],
                           client=(client or None) and client[:64], detail=detail))


# --- the write generation -----------------------------------------------------------

GENERATION = "generation"


def next_generation(session: Session) -> None:
    """Called in every transaction that changes what a listing shows; committed with it."""
    session.execute(update(Meta).where(Meta.key == GENERATION)
                    .values(value=cast(cast(Meta.value, Integer) + 1, Text)))


_GENERATION_QUERY = select(Meta.value).where(Meta.key == GENERATION)  # built once: it runs on every cached read


def generation(session: Session) -> int:
    return int(session.scalar(_GENERATION_QUERY) or 0)


# --- accounts -----------------------------------------------------------------------


def _public_key(pem: bytes):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        if b"PRIVATE KEY" in pem:
            raise RegistryError(400, "that is a private key: register the public key (label-signing.pub)")
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise RegistryError(400, "not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise RegistryError(400, f"not an {ALGORITHM} public key")
    return key


def name_key(name: str) -> str:
    """A manufacturer name folded for comparison: Unicode compatibility forms, case and spacing do not count."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def add_manufacturer(session: Session, name: str, public_pem: bytes | None, actor: str = "admin") -> tuple[Manufacturer, str]:
    """Only the operator adds manufacturers (`iotcop registry manufacturer add`), after checking who they are."""
    name = " ".join(name.split())
    if not name or len(name) > 200 or not name.isprintable():
        raise RegistryError(400, "a manufacturer name of 1 to 200 printable characters is needed")
    key = name_key(name)
    same = session.scalar(select(Manufacturer).where(Manufacturer.name_key == key))
    if same is not None:
        raise RegistryError(409, f"manufacturer {name!r} exists already" +
                            (f" (as {same.name!r})" if same.name != name else ""))
    m = Manufacturer(name=name, name_key=key, created_at=utcnow())
    session.add(m)
    session.flush()
    if public_pem is not None:
        add_key(session, m, public_pem, actor)
    token = add_token(session, m, actor)
    audit(session, actor, "manufacturer.add", f"manufacturer:{m.id}", name=name)
    next_generation(session)
    return m, token


def find_manufacturer(session: Session, name: str) -> Manufacturer:
    m = session.scalar(select(Manufacturer).where(Manufacturer.name_key == name_key(name)))
    if m is None:
        raise RegistryError(404, f"no manufacturer named {name!r}")
    return m


def add_token(session: Session, m: Manufacturer, actor: str = "admin") -> str:
    token = new_token()
    session.add(ApiToken(manufacturer_id=m.id, token_hash=token_hash(token), prefix=token_prefix(token),
                         created_at=utcnow()))
    audit(session, actor, "token.add", f"manufacturer:{m.id}", prefix=token_prefix(token))
    return token


def revoke_token(session: Session, prefix: str, actor: str = "admin") -> int:
    rows = session.scalars(select(ApiToken).where(ApiToken.prefix == prefix, ApiToken.revoked_at.is_(None))).all()
    for t in rows:
        t.revoked_at = utcnow()
        audit(session, actor, "token.revoke", f"manufacturer:{t.manufacturer_id}", prefix=prefix)
    return len(rows)


def add_key(session: Session, m: Manufacturer, public_pem: bytes, actor: str = "admin") -> SigningKey:
    kid = key_id(_public_key(public_pem))
    if session.scalar(select(SigningKey).where(SigningKey.key_id == kid)) is not None:
        raise RegistryError(409, f"key {kid} is registered already")
    key = SigningKey(manufacturer_id=m.id, key_id=kid, public_pem=public_pem.decode("ascii", "replace"),
                     created_at=utcnow())
    session.add(key)
    audit(session, actor, "key.add", f"manufacturer:{m.id}", key_id=kid)
    return key


def revoke_key(session: Session, kid: str, reason: str, actor: str = "admin") -> SigningKey:
    """Every label the key signed shows as revoked from now on, with this date and reason."""
    reason = " ".join(reason.split())
    if not reason or len(reason) > 500:
        raise RegistryError(400, "a reason of 1 to 500 characters is needed (it is shown with every label)")
    key = session.scalar(select(SigningKey).where(SigningKey.key_id == kid))
    if key is None:
        raise RegistryError(404, f"no key with id {kid}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        key.revoked_reason = reason
        audit(session, actor, "key.revoke", f"manufacturer:{key.manufacturer_id}", key_id=kid, reason=reason)
        next_generation(session)
    return key


@dataclass
class Caller:
    manufacturer: Manufacturer
    token_prefix: str

    @property
    def actor(self) -> str:
        return f"manufacturer:{self.manufacturer.id} (token {self.token_prefix})"


def authenticate(session: Session, token: str | None) -> Caller | None:
    if not token or len(token) > 200:
        return None
    digest = token_hash(token)
    found = session.execute(select(ApiToken, Manufacturer).join(Manufacturer, Manufacturer.id == ApiToken.manufacturer_id)
                            .where(ApiToken.token_hash == digest)).first()
    if found is None:
        return None
    row, m = found
    if row.revoked_at is not None or not same_hash(row.token_hash, digest):
        return None
    return Caller(m, row.prefix)


# --- label content ------------------------------------------------------------------


class LabelProduct(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(pattern=r"^[0-9a-f]{8,64}$")
    name: str = Field(min_length=1, max_length=300)
    type: str | None = Field(None, max_length=300)
    model: str | None = Field(None, max_length=300)
    manufacturer: str | None = Field(None, max_length=300)


class LabelFirmware(BaseModel):
    model_config = ConfigDict(extra="allow")
    version: str | None = Field(None, max_length=200)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    file: str | None = Field(None, max_length=255)


class LabelReportRef(BaseModel):
    model_config = ConfigDict(extra="allow")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class LabelResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(max_length=40)
    text: str = Field("", max_length=300)
    verdict: str = Field(max_length=40)
    state: str = Field("", max_length=40)


class LabelContent(BaseModel):
    """The fields the registry relies on; a label may carry more (they stay in the signed file)."""

    model_config = ConfigDict(extra="allow")
    schema_: str = Field(alias="schema", pattern=r"^iotcop\.label/1$")
    product: LabelProduct
    firmware: LabelFirmware
    security_updates_until: dt.date | None = None
    level: int = Field(ge=0, le=4)
    level_meaning: str = Field("", max_length=300)
    level_limits: list[str] = Field(default_factory=list, max_length=50)
    results: list[LabelResult] = Field(default_factory=list, max_length=50)
    registry_url: str | None = Field(None, max_length=2000)
    report: LabelReportRef
    issued_at: str = Field(max_length=40)

    @field_validator("security_updates_until", mode="before")
    @classmethod
    def _date_only(cls, value):
        if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError("expected YYYY-MM-DD")
        return value


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "label"
    return f"{where}: {err.get('msg', 'invalid')}"


MAX_JSON_DEPTH = 64  # a report nests about 8 deep; deeper input is refused before anything walks it


def load_json(data: bytes, what: str) -> Any:
    """A JSON document from an upload: UTF-8 only, nested at most MAX_JSON_DEPTH deep; else RegistryError 422."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4]:
        raise RegistryError(422, f"{what} is not UTF-8 (it looks like UTF-16); save it as UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RegistryError(422, f"{what} is not UTF-8 text (invalid byte at {exc.start})") from None
    try:
        doc = json.loads(text)
    except RecursionError:
        raise RegistryError(422, f"{what} is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError as exc:
        raise RegistryError(422, f"{what} is not JSON ({getattr(exc, 'msg', exc)})") from None
    if _depth_exceeds(doc, MAX_JSON_DEPTH):
        raise RegistryError(422, f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
    return doc


def _depth_exceeds(doc: Any, limit: int) -> bool:
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _signature_key_id(doc: Any) -> str | None:
    try:
        kid = doc["signature"]["key_id"]
    except (KeyError, TypeError):
        return None
    return kid if isinstance(kid, str) and re.fullmatch(r"[0-9a-f]{16}", kid) else None


def parse_report(report_bytes: bytes) -> Assessment:
    data = load_json(report_bytes, "the report")
    if not isinstance(data, dict) or data.get("schema") != "iotcop.report/1":
        raise RegistryError(422, 'the report is not an iotcop report ("schema": "iotcop.report/1")')
    try:
        return Assessment.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        raise RegistryError(422, f"the report does not match iotcop.report/1 ({where}: {err.get('msg')})") from None


def summarise(assessment: Assessment, label: LabelContent) -> dict:
    """What the pages and the version history read, derived once at publication."""
    from iotcop.report.view import (
        DeclarationView,
        promise_results,
        shown_assessment,
        vulnerability_summary,
    )

    shown = shown_assessment(assessment)
    decl = DeclarationView.of(shown.declaration) if shown.declaration else DeclarationView()
    findings = [{"id": f.id, "check": f.check, "severity": f.severity.value, "title": f.title,
                 "path": _shown_path(f.check, f.evidence.path), "provisions": list(f.provisions)}
                for f in shown.findings]
    results = promise_results(shown, decl)
    contact = {k: decl.get(k) for k in ("vdp_contact", "vdp_policy_url", "security_txt", "vdp_ack_days",
                                        "vdp_status_days", "support_url", "update_url")}
    return {
        "findings": findings[:MAX_FINDINGS_KEPT],
        "findings_total": len(findings),
        "provisions": {v.id: v.verdict.value for v in shown.provisions},
        "results": [{"id": r.id, "text": r.text, "verdict": r.verdict, "state": r.state} for r in results],
        "contact": {k: v for k, v in contact.items() if v is not None},
        "extraction": shown.extraction.status,
        "level_meaning": label.level_meaning,
        "level_limits": label.level_limits[:12],
        "manufacturer_declared": label.product.manufacturer,
        "known_vulnerabilities": vulnerability_summary(shown).as_dict(),
    }


def _shown_path(check: str, path: str | None) -> str | None:
    # A declaration finding names the file on the manufacturer's machine; its name is enough.
    if path and check.startswith("declaration."):
        return path.replace("\\", "/").rsplit("/", 1)[-1]
    return path


def _loose_key(f: dict) -> tuple:
    from iotcop.batch.diff import comparable_path

    # Declaration findings are the same finding whatever the declaration file is called in each version.
    path = "" if f["check"].startswith("declaration.") else comparable_path(f.get("path"))
    return (f["check"], f["title"], path)


def product_key(manufacturer_id: int, content: LabelContent) -> str:
    name = (content.product.model or content.product.name).strip().lower()
    return hashlib.sha256(f"{manufacturer_id}\x00{name}".encode()).hexdigest()[:16]


# --- publishing ---------------------------------------------------------------------


def _insert_ignore(session: Session, table, values: dict):
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return session.execute(insert(table).values(**values).on_conflict_do_nothing())


def publish_label(session: Session, caller: Caller, label_bytes: bytes, report_bytes: bytes,
                  idempotency_key: str | None, client: str | None = None) -> tuple[Label, bool]:
    """Store a signed label and its report; (label, True) when new, (the stored one, False) for a repeat."""
    m = caller.manufacturer
    label_sha = hashlib.sha256(label_bytes).hexdigest()
    key = idempotency_key or f"label:{label_sha}"
    existing = _existing(session, m.id, key, label_sha)
    if existing is not None:
        return existing, False
    kid = _signature_key_id(load_json(label_bytes, "the label"))
    if kid is None:
        raise RegistryError(422, "not a signed iotcop label file (no signature key id)")
    signing = session.scalar(select(SigningKey).where(SigningKey.key_id == kid))
    if signing is None or signing.manufacturer_id != m.id:
        raise RegistryError(403, f"the label is signed by key {kid}, which is not a registered key of {m.name}")
    if signing.revoked_at is not None:
        raise RegistryError(403, f"the label is signed by key {kid}, which was revoked")
    try:
        data = verify_label(label_bytes, _public_key(signing.public_pem.encode()))
    except LabelInvalid as exc:
        raise RegistryError(422, f"the label signature is not valid: {exc}") from None
    try:
        content = LabelContent.model_validate(data)
    except ValidationError as exc:
        raise RegistryError(422, f"label {_first_error(exc)}") from None
    report_sha = hashlib.sha256(report_bytes).hexdigest()
    if report_sha != content.report.sha256:
        raise RegistryError(422, "the report is not the one the label was made from (sha256 differs)")
    assessment = parse_report(report_bytes)
    check_level(content.level, assessment)
    _check_declared_manufacturer(session, m, content.product.manufacturer)
    pid = product_key(m.id, content)
    p = content.product
    # Searches match the registered manufacturer name, never the one a label declares for itself.
    search = " ".join(x for x in (p.name, p.model, p.type, m.name) if x).lower()
    try:
        _claim_label_pid(session, m, p.id)
        _insert_ignore(session, Product.__table__, dict(id=pid, manufacturer_id=m.id, name=p.name, model=p.model,
                                                       type=p.type, search_text=search, created_at=utcnow()))
        label = Label(product_id=pid, manufacturer_id=m.id, idempotency_key=key, label_pid=p.id,
                      label_sha256=label_sha, key_id=kid, firmware_version=content.firmware.version,
                      firmware_sha256=content.firmware.sha256, level=content.level,
                      level_meaning=content.level_meaning,
                      support_end=content.security_updates_until, issued_at=content.issued_at,
                      published_at=utcnow(), label_json=label_bytes.decode("ascii"), report_sha256=report_sha,
                      summary=summarise(assessment, content))
        session.add(label)
        session.flush()
        session.add(LabelReport(label_id=label.id, body=report_bytes.decode("utf-8")))
        audit(session, caller.actor, "label.publish", f"label:{label.id}", client, product=pid,
              firmware=content.firmware.version, key_id=kid, idempotency_key=key)
        next_generation(session)  # last: the row lock is held only until the commit just after
        session.commit()
    except IntegrityError:
        # A concurrent request with the same idempotency key (or the same label) won the race.
        session.rollback()
        existing = _existing(session, m.id, key, label_sha)
        if existing is None:
            raise
        return existing, False
    return label, True


def check_level(claimed: int, assessment: Assessment) -> None:
    """The level is recomputed from the report by the code `iotcop label make` uses; a different claim is refused."""
    computed = label_level(assessment)
    if claimed != computed.value:
        why = f" ({'; '.join(computed.reasons[:2])})" if computed.reasons else ""
        raise RegistryError(422, f"the label claims level {claimed}, but its report gives level {computed.value}{why}")


def _check_declared_manufacturer(session: Session, m: Manufacturer, declared: str | None) -> None:
    if not declared or name_key(declared) == m.name_key:
        return
    other = session.scalar(select(Manufacturer.name).where(Manufacturer.name_key == name_key(declared)))
    if other is not None:
        raise RegistryError(403, f"the label names {other!r} as its manufacturer, another registered manufacturer; "
                                 f"{m.name} can publish only its own products")


def _claim_label_pid(session: Session, m: Manufacturer, label_pid: str) -> None:
    """The first manufacturer to publish a product id owns it (its QR code opens that manufacturer's page)."""
    _insert_ignore(session, LabelProductId.__table__, dict(label_pid=label_pid, manufacturer_id=m.id,
                                                          created_at=utcnow()))
    owner = session.scalar(select(LabelProductId.manufacturer_id).where(LabelProductId.label_pid == label_pid))
    if owner != m.id:
        session.rollback()
        raise RegistryError(409, f"product id {label_pid} (the label's QR code) belongs to another manufacturer's "
                                 "product; make the label with your own product details")


def _existing(session: Session, manufacturer_id: int, key: str, label_sha: str) -> Label | None:
    found = session.scalar(select(Label).where(Label.manufacturer_id == manufacturer_id,
                                               Label.idempotency_key == key))
    if found is not None:
        if found.label_sha256 != label_sha:
            raise RegistryError(409, "this idempotency key was used for a different label")
        return found
    found = session.scalar(select(Label).where(Label.label_sha256 == label_sha))
    if found is not None and found.manufacturer_id != manufacturer_id:
        raise RegistryError(409, "this label was published by another manufacturer")
    return found


def revoke_label(session: Session, caller: Caller, label_id: int, reason: str, client: str | None = None) -> Label:
    label = session.get(Label, label_id)
    if label is None or label.manufacturer_id != caller.manufacturer.id:
        raise RegistryError(404, "no such label of yours")
    if label.revoked_at is None:
        label.revoked_at = utcnow()
        label.revoked_reason = reason
        audit(session, caller.actor, "label.revoke", f"label:{label.id}", client, reason=reason)
        next_generation(session)
        session.commit()
    return label


# --- verification -------------------------------------------------------------------


@dataclass(frozen=True)
class Revocation:
    at: dt.datetime
    by: str  # "manufacturer" (the label) or "signing key" (the registry revoked the key that signed it)
    reason: str

    @property
    def sentence(self) -> str:
        day = self.at.date().isoformat()
        if self.by == "manufacturer":
            return f"the manufacturer revoked this label on {day}: {self.reason}"
        return f"the key that signed this label was revoked on {day}: {self.reason}"


def key_revocation(key: SigningKey | None) -> Revocation | None:
    if key is None or key.revoked_at is None:
        return None
    return Revocation(key.revoked_at, "signing key", key.revoked_reason or f"key {key.key_id} withdrawn")


def revocation(label: Label) -> Revocation | None:
    """Why a published label must not be relied on, if it must not: the earlier of its own and its key's revocation."""
    found = [r for r in (key_revocation(label.signing_key),) if r is not None]
    if label.revoked_at is not None:
        found.append(Revocation(label.revoked_at, "manufacturer", label.revoked_reason or "no reason given"))
    return min(found, key=lambda r: r.at) if found else None


@dataclass
class Verification:
    status: str  # valid | invalid | revoked
    reason: str
    key_id: str | None = None
    signer: str | None = None
    label: dict | None = None
    published: Label | None = None
    revoked_at: dt.datetime | None = None
    extra: dict = field(default_factory=dict)


def verify_label_bytes(session: Session, data: bytes) -> Verification:
    kid = _signature_key_id(load_json(data, "the label file"))
    if kid is None:
        return Verification("invalid", "not a signed iotcop label file (JSON with 'label' and 'signature')")
    key = session.scalar(select(SigningKey).where(SigningKey.key_id == kid))
    if key is None:
        return Verification("invalid", f"signed by key {kid}, which is not registered here", key_id=kid)
    signer = key.manufacturer.name
    try:
        label = verify_label(data, _public_key(key.public_pem.encode()))
    except LabelInvalid as exc:
        return Verification("invalid", str(exc), key_id=kid, signer=signer)
    published = session.scalar(select(Label).where(Label.label_sha256 == hashlib.sha256(data).hexdigest()))
    revoked = revocation(published) if published is not None else key_revocation(key)
    if revoked is not None:
        return Verification("revoked", revoked.sentence, kid, signer, label, published, revoked.at)
    reason = "signed by a registered key of " + signer
    if published is None:
        reason += " (this exact label is not published in this registry)"
    return Verification("valid", reason, kid, signer, label, published)


# --- reading ------------------------------------------------------------------------


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_products(session: Session, query: str, limit: int = 50,
                    offset: int = 0) -> list[tuple[Product, Label | None]]:
    """Products whose name, model, type or registered manufacturer holds every word; two queries in all."""
    words = [w for w in query.lower().split() if w][:8]
    stmt = select(Product)
    for w in words:
        stmt = stmt.where(Product.search_text.like(f"%{_like_escape(w)}%", escape="\\"))
    stmt = stmt.order_by(Product.name, Product.id).limit(limit).offset(offset)
    products = session.scalars(stmt).all()
    latest = latest_labels(session, [p.id for p in products])
    return [(p, latest.get(p.id)) for p in products]


def _newest_first():
    return (Label.published_at.desc(), Label.id.desc())


def latest_labels(session: Session, product_ids: list[str]) -> dict[str, Label]:
    """The newest label of each product, in one query (ix_labels_product_published serves it)."""
    if not product_ids:
        return {}
    ranked = (select(Label.id, func.row_number().over(partition_by=Label.product_id, order_by=_newest_first())
                     .label("rank"))
              .where(Label.product_id.in_(product_ids)).subquery())
    rows = session.scalars(select(Label).join(ranked, ranked.c.id == Label.id).where(ranked.c.rank == 1))
    return {label.product_id: label for label in rows}


def latest_label(session: Session, product_id: str) -> Label | None:
    return latest_labels(session, [product_id]).get(product_id)


def history(session: Session, product_id: str, limit: int) -> list[Label]:
    """Newest first, with their summaries (the "what changed" lists compare them)."""
    return list(session.scalars(select(Label).options(undefer(Label.summary)).where(Label.product_id == product_id)
                                .order_by(*_newest_first()).limit(limit)))


def support_active(label: Label, today: dt.date | None = None) -> bool | None:
    if label.support_end is None:
        return None
    return label.support_end >= (today or dt.date.today())


_VERDICT_RANK = {"FAIL": 0, "INCONCLUSIVE": 1, "NOT_TESTED": 1, "DECLARED": 2, "NOT_APPLICABLE": 3, "PASS": 3}


def changes(older: dict, newer: dict) -> dict:
    """What changed from one published version to the next: findings fixed and new, verdicts moved."""
    old_f = {f["id"]: f for f in older.get("findings", [])}
    new_f = {f["id"]: f for f in newer.get("findings", [])}
    for fid in set(old_f) & set(new_f):
        del old_f[fid], new_f[fid]
    loose: dict[tuple, list] = {}
    for f in old_f.values():
        loose.setdefault(_loose_key(f), []).append(f["id"])
    for fid, f in list(new_f.items()):
        bucket = loose.get(_loose_key(f))
        if bucket:
            del old_f[bucket.pop(0)], new_f[fid]
    verdicts = []
    before = older.get("provisions", {})
    for pid, now in newer.get("provisions", {}).items():
        was = before.get(pid)
        if was is not None and was != now:
            a, b = _VERDICT_RANK.get(was, 1), _VERDICT_RANK.get(now, 1)
            verdicts.append({"id": pid, "old": was, "new": now,
                             "direction": "improved" if b > a else "regressed" if b < a else "changed"})
    results = []
    old_results = {r["id"]: r for r in older.get("results", [])}
    for r in newer.get("results", []):
        o = old_results.get(r["id"])
        if o is not None and o["verdict"] != r["verdict"]:
            results.append({"id": r["id"], "old": o["text"], "new": r["text"]})
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    key = lambda f: (order.get(f["severity"], 5), f["check"], f.get("path") or "", f["title"])  # noqa: E731
    return {"fixed": sorted(old_f.values(), key=key), "new": sorted(new_f.values(), key=key),
            "verdicts": verdicts, "results": results}


def feed_labels(session: Session, days_new: int = 30, days_expiring: int = 90, days_revoked: int = 30,
                limit: int = 100) -> list[tuple[str, Label]]:
    """("new" | "expiring" | "revoked", label): published lately, support ending soon, revoked lately."""
    now = utcnow()
    today = now.date()
    new = session.scalars(select(Label).where(Label.published_at >= now - dt.timedelta(days=days_new))
                          .order_by(*_newest_first()).limit(limit)).all()
    expiring = session.scalars(select(Label).where(Label.support_end.is_not(None),
                                                   Label.support_end >= today,
                                                   Label.support_end <= today + dt.timedelta(days=days_expiring))
                               .order_by(Label.support_end, Label.id).limit(limit)).all()
    since = now - dt.timedelta(days=days_revoked)
    by_label = session.scalars(select(Label).where(Label.revoked_at >= since)
                               .order_by(Label.revoked_at.desc()).limit(limit)).all()
    revoked_keys = select(SigningKey.key_id).where(SigningKey.revoked_at >= since)
    by_key = session.scalars(select(Label).where(Label.key_id.in_(revoked_keys))
                             .order_by(*_newest_first()).limit(limit)).all()
    revoked = {label.id: label for label in [*by_label, *by_key]}.values()
    expiring = [label for label in expiring if revocation(label) is None]
    return ([("new", label) for label in new] + [("expiring", label) for label in expiring]
            + [("revoked", label) for label in sorted(revoked, key=lambda l: revocation(l).at, reverse=True)])


def counts(session: Session) -> dict[str, int]:
    return {"products": session.scalar(select(func.count()).select_from(Product)) or 0,
            "labels": session.scalar(select(func.count()).select_from(Label)) or 0}


def find_by_label_pid(session: Session, pid: str) -> Label | None:
    """The newest label with this QR product id from the manufacturer that owns the id."""
    owner = select(LabelProductId.manufacturer_id).where(LabelProductId.label_pid == pid).scalar_subquery()
    return session.scalar(select(Label).where(Label.label_pid == pid, Label.manufacturer_id == owner)
                          .order_by(*_newest_first()).limit(1))
