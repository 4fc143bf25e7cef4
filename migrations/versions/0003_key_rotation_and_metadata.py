"""key rotation grace window and key metadata

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("keys") as batch:
        batch.add_column(sa.Column("previous_secret_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("previous_valid_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("metadata", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("keys") as batch:
        batch.drop_column("metadata")
        batch.drop_column("previous_valid_until")
        batch.drop_column("previous_secret_hash")
