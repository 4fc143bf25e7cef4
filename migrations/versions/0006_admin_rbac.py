"""admin roles and admin API keys

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_USER_FOREIGN_KEY = "fk_admin_tokens_user_id_users"


def upgrade() -> None:
    # Tokens stored before roles existed are bootstrap tokens: they keep full rights.
    with op.batch_alter_table("admin_tokens") as batch:
        batch.add_column(sa.Column("role", sa.String(length=20), nullable=False, server_default="owner"))
        batch.add_column(sa.Column("user_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("team_ids", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(_USER_FOREIGN_KEY, "users", ["user_id"], ["id"], ondelete="RESTRICT")


def downgrade() -> None:
    with op.batch_alter_table("admin_tokens") as batch:
        batch.drop_constraint(_USER_FOREIGN_KEY, type_="foreignkey")
        batch.drop_column("revoked_at")
        batch.drop_column("team_ids")
        batch.drop_column("user_id")
        batch.drop_column("role")
