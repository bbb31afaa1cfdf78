"""Product ids owned by their first publisher, key revocation reasons, folded manufacturer names.

Revision ID: 0003
Revises: 0002
"""

import datetime as dt
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _fold(name: str) -> str:
    # The same folding as service.name_key, frozen here: a migration must not change when the code does.
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def upgrade() -> None:
    op.create_table(
        "label_product_ids",
        sa.Column("label_pid", sa.String(64), primary_key=True),
        sa.Column("manufacturer_id", sa.Integer, sa.ForeignKey("manufacturers.id"), nullable=False, index=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    connection = op.get_bind()
    labels = sa.table("labels", sa.column("id", sa.Integer), sa.column("label_pid", sa.String),
                      sa.column("manufacturer_id", sa.Integer), sa.column("published_at", TZ))
    owners = sa.table("label_product_ids", sa.column("label_pid", sa.String), sa.column("manufacturer_id", sa.Integer),
                      sa.column("created_at", TZ))
    seen = set()
    # The first publisher of an id keeps it; later labels of other manufacturers no longer answer its QR code.
    for pid, manufacturer_id, published_at in connection.execute(
            sa.select(labels.c.label_pid, labels.c.manufacturer_id, labels.c.published_at)
            .order_by(labels.c.published_at, labels.c.id)).all():
        if pid not in seen:
            seen.add(pid)
            connection.execute(owners.insert().values(label_pid=pid, manufacturer_id=manufacturer_id,
                                                      created_at=published_at or dt.datetime.now(dt.timezone.utc)))

    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(sa.Column("revoked_reason", sa.Text, nullable=True))
    with op.batch_alter_table("labels") as batch:
        batch.create_index("ix_labels_revoked_at", ["revoked_at"])

    with op.batch_alter_table("manufacturers") as batch:
        batch.add_column(sa.Column("name_key", sa.String(200), nullable=True))
    makers = sa.table("manufacturers", sa.column("id", sa.Integer), sa.column("name", sa.String),
                      sa.column("name_key", sa.String))
    taken = set()
    for maker_id, name in connection.execute(sa.select(makers.c.id, makers.c.name).order_by(makers.c.id)).all():
        key = _fold(name)
        if key in taken:  # two accounts that differ only in case or spacing: the later one is marked for the operator
            key = f"{key} (duplicate of an older account, id {maker_id})"
        taken.add(key)
        connection.execute(makers.update().where(makers.c.id == maker_id).values(name_key=key[:200]))
    with op.batch_alter_table("manufacturers") as batch:
        batch.alter_column("name_key", existing_type=sa.String(200), nullable=False)
        batch.create_unique_constraint("uq_manufacturers_name_key", ["name_key"])


def downgrade() -> None:
    with op.batch_alter_table("manufacturers") as batch:
        batch.drop_constraint("uq_manufacturers_name_key", type_="unique")
        batch.drop_column("name_key")
    with op.batch_alter_table("labels") as batch:
        batch.drop_index("ix_labels_revoked_at")
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("revoked_reason")
    op.drop_table("label_product_ids")
