from alembic import context

from bootflow.db import models
from bootflow.db import node_models  # noqa: F401  (its tables)


def run_migrations():
    engine = context.config.attributes['engine']
    with engine.connect() as conn:
        context.configure(connection=conn,
                          target_metadata=models.Base.metadata,
                          render_as_batch=engine.dialect.name == 'sqlite')
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()


run_migrations()
