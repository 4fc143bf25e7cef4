"""route strategy and target weights

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("routes") as batch:
        batch.add_column(sa.Column("strategy", sa.String(length=20), nullable=False, server_default="priority"))
    with op.batch_alter_table("route_targets") as batch:
        batch.add_column(sa.Column("weight", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("route_targets") as batch:
        batch.drop_column("weight")
    with op.batch_alter_table("routes") as batch:
        batch.drop_column("strategy")
