"""Listings without the large columns: the level's meaning gets a column; products are listed by name.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("labels") as batch:
        batch.add_column(sa.Column("level_meaning", sa.String(300), nullable=False, server_default=""))
    labels = sa.table("labels", sa.column("id", sa.Integer), sa.column("summary", sa.JSON),
                      sa.column("level_meaning", sa.String))
    connection = op.get_bind()
    for label_id, summary in connection.execute(sa.select(labels.c.id, labels.c.summary)).all():
        meaning = (summary or {}).get("level_meaning") or ""
        connection.execute(labels.update().where(labels.c.id == label_id).values(level_meaning=meaning[:300]))
    op.create_index("ix_products_name_id", "products", ["name", "id"])


def downgrade() -> None:
    op.drop_index("ix_products_name_id", "products")
    with op.batch_alter_table("labels") as batch:
        batch.drop_column("level_meaning")
