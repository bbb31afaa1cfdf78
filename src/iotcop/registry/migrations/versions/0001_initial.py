"""Initial registry schema: manufacturers, tokens, keys, products, labels, reports, scan jobs, audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "manufacturers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("manufacturer_id", sa.Integer, sa.ForeignKey("manufacturers.id"), nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False, index=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
    )
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("manufacturer_id", sa.Integer, sa.ForeignKey("manufacturers.id"), nullable=False, index=True),
        sa.Column("key_id", sa.String(16), nullable=False, unique=True),
        sa.Column("public_pem", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("manufacturer_id", sa.Integer, sa.ForeignKey("manufacturers.id"), nullable=False, index=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("model", sa.String(300), nullable=True),
        sa.Column("type", sa.String(300), nullable=True),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("product_id", sa.String(16), sa.ForeignKey("products.id"), nullable=False),
        sa.Column("manufacturer_id", sa.Integer, sa.ForeignKey("manufacturers.id"), nullable=False, index=True),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("label_pid", sa.String(64), nullable=False, index=True),
        sa.Column("label_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("key_id", sa.String(16), nullable=False, index=True),
        sa.Column("firmware_version", sa.String(200), nullable=True),
        sa.Column("firmware_sha256", sa.String(64), nullable=True),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("support_end", sa.Date, nullable=True, index=True),
        sa.Column("issued_at", sa.String(40), nullable=False),
        sa.Column("published_at", TZ, nullable=False, index=True),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.Column("revoked_reason", sa.Text, nullable=True),
        sa.Column("label_json", sa.Text, nullable=False),
        sa.Column("report_sha256", sa.String(64), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.UniqueConstraint("manufacturer_id", "idempotency_key", name="uq_labels_idempotency"),
    )
    op.create_index("ix_labels_product_published", "labels", ["product_id", "published_at"])
    op.create_table(
        "label_reports",
        sa.Column("label_id", sa.Integer, sa.ForeignKey("labels.id"), primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "scan_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("manufacturer_id", sa.Integer, sa.ForeignKey("manufacturers.id"), nullable=False, index=True),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("firmware_name", sa.String(255), nullable=False),
        sa.Column("firmware_sha256", sa.String(64), nullable=False),
        sa.Column("firmware_size", sa.Integer, nullable=False),
        sa.Column("has_declaration", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("report_json", sa.Text, nullable=True),
        sa.UniqueConstraint("manufacturer_id", "idempotency_key", name="uq_scan_jobs_idempotency"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TZ, nullable=False, index=True),
        sa.Column("actor", sa.String(220), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_log", "scan_jobs", "label_reports", "labels", "products", "signing_keys", "api_tokens",
                  "manufacturers", "registry_meta"):
        op.drop_table(table)
