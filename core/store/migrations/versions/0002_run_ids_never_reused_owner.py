"""run ids never reused (SQLite AUTOINCREMENT) and the owner of a running run

SQLite without AUTOINCREMENT hands the id of the newest deleted run to the next one, so a
cache or a ``?compare=`` link keyed by that id silently meant another run. PostgreSQL's
sequences never go back, so only SQLite's table is rebuilt (batch mode copies every row
with its id; foreign keys are switched off around it by ``upgrade_database``).

``owner`` records which process runs a run (``host:pid:start``), so a sweep at start-up can
mark runs whose process is gone (killed with -9) as interrupted.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 08:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(
        'runs',
        schema=None,
        recreate='always' if sqlite else 'auto',
        table_kwargs={'sqlite_autoincrement': True},
    ) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=200), nullable=True))


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(
        'runs', schema=None, recreate='always' if sqlite else 'auto'
    ) as batch_op:
        batch_op.drop_column('owner')
