"""Database tables (SQLAlchemy 2).  The schema itself is created by the Alembic migrations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import DateTime as _DateTime
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class DateTime(TypeDecorator):
    """Time stamps in UTC, aware on the way out on every database (SQLite stores them without a zone)."""

    impl = _DateTime(timezone=True)
    cache_ok = True

    def __init__(self, timezone: bool = True) -> None:
        super().__init__()

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Registry-wide values kept in the database so that every server process shares them."""

    __tablename__ = "registry_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Manufacturer(Base):
    """An account the registry's operator created (and checked the name of): the only manufacturer names shown."""

    __tablename__ = "manufacturers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # The name folded for comparison (case, width, spacing): unique, so "ACME  Ltd" cannot join beside "Acme Ltd".
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    keys: Mapped[list[SigningKey]] = relationship(back_populates="manufacturer", lazy="select")


class ApiToken(Base):
    """Only the sha256 of a token is stored; the token itself is shown once, when it is made."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("manufacturers.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)  # to name a token when revoking it
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SigningKey(Base):
    __tablename__ = "signing_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("manufacturers.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    public_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    manufacturer: Mapped[Manufacturer] = relationship(back_populates="keys", lazy="joined")


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (Index("ix_products_name_id", "name", "id"),)
    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # from the manufacturer and model
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("manufacturers.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    model: Mapped[str | None] = mapped_column(String(300), nullable=True)
    type: Mapped[str | None] = mapped_column(String(300), nullable=True)
    search_text: Mapped[str] = mapped_column(Text)  # lower-case name, model and manufacturer names
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    manufacturer: Mapped[Manufacturer] = relationship(lazy="joined")


class Label(Base):
    """One published firmware version of a product: the signed label file and what was derived from it."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("manufacturer_id", "idempotency_key", name="uq_labels_idempotency"),
                      Index("ix_labels_product_published", "product_id", "published_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("manufacturers.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    label_pid: Mapped[str] = mapped_column(String(64), index=True)  # the id the label's QR code names
    label_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[str] = mapped_column(String(16), index=True)
    firmware_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    firmware_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    level: Mapped[int] = mapped_column(Integer)
    level_meaning: Mapped[str] = mapped_column(String(300), default="")
    support_end: Mapped[dt.date | None] = mapped_column(Date, nullable=True, index=True)
    issued_at: Mapped[str] = mapped_column(String(40))
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    revoked_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The two large columns are loaded only when read: listings never need them.
    label_json: Mapped[str] = mapped_column(Text, deferred=True, deferred_raiseload=True)  # the exact signed bytes
    report_sha256: Mapped[str] = mapped_column(String(64))
    # verdicts, findings, plain results, contact: see service.summarise
    summary: Mapped[dict] = mapped_column(JSON, deferred=True, deferred_raiseload=True)
    product: Mapped[Product] = relationship(lazy="joined")
    # Loaded with every label: a revoked key revokes the label wherever it is shown.
    signing_key: Mapped[SigningKey] = relationship(primaryjoin="foreign(Label.key_id) == SigningKey.key_id",
                                                   lazy="joined", viewonly=True)


class LabelProductId(Base):
    """The product id a label's QR code names belongs to the manufacturer that first published it."""

    __tablename__ = "label_product_ids"
    label_pid: Mapped[str] = mapped_column(String(64), primary_key=True)
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("manufacturers.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LabelReport(Base):
    """The report a label was made from, apart from the label rows so listings stay small."""

    __tablename__ = "label_reports"
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id"), primary_key=True)
    body: Mapped[str] = mapped_column(Text)


class ScanJob(Base):
    __tablename__ = "scan_jobs"
    __table_args__ = (UniqueConstraint("manufacturer_id", "idempotency_key", name="uq_scan_jobs_idempotency"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("manufacturers.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued | running | done | failed
    firmware_name: Mapped[str] = mapped_column(String(255))
    firmware_sha256: Mapped[str] = mapped_column(String(64))
    firmware_size: Mapped[int] = mapped_column(Integer)
    has_declaration: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    report_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(220))  # "manufacturer:3 (token abcd1234)", "admin"
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255))
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
