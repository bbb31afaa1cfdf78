"""A write generation: every change a listing can show adds one, and cached listings are keyed by it.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = sa.table("registry_meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.get_bind().execute(meta.insert().values(key="generation", value="1"))


def downgrade() -> None:
    meta = sa.table("registry_meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.get_bind().execute(meta.delete().where(meta.c.key == "generation"))
