"""conditional routing rules and per-route retry policy

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("routes") as batch:
        batch.add_column(sa.Column("policy", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "route_rules",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("route_id", sa.String(length=36), sa.ForeignKey("routes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("condition", sa.JSON(), nullable=False),
    )
    op.create_index("ix_route_rules_route_id", "route_rules", ["route_id"])
    op.create_table(
        "route_rule_targets",
        sa.Column(
            "rule_id", sa.String(length=36), sa.ForeignKey("route_rules.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column(
            "deployment_id",
            sa.String(length=36),
            sa.ForeignKey("deployments.id", ondelete="RESTRICT"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_table("route_rule_targets")
    op.drop_index("ix_route_rules_route_id", table_name="route_rules")
    op.drop_table("route_rules")
    with op.batch_alter_table("routes") as batch:
        batch.drop_column("policy")
