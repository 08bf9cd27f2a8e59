"""Alembic environment: the engine comes from ``openatd.storage.db.alembic_config``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from openatd.storage.partitions import include_name
from openatd.storage.tables import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("alembic: no engine and no sqlalchemy.url")
        engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            include_name=include_name,  # position partitions are made at run time
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run()
