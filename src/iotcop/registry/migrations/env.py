"""Alembic environment: the registry passes its own connection (see iotcop.registry.db.migrate)."""

from __future__ import annotations

from alembic import context

from iotcop.registry.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the registry migrations through iotcop.registry.db.migrate")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
