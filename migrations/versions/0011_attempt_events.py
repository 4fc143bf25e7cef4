"""usage events of attempts that did not answer: parent_request_id

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.add_column(sa.Column("parent_request_id", sa.String(length=64), nullable=True))
    op.create_index("ix_usage_events_parent_request_id", "usage_events", ["parent_request_id"])


def downgrade() -> None:
    op.drop_index("ix_usage_events_parent_request_id", table_name="usage_events")
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("parent_request_id")
