"""tenants.max_result_bytes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# What a new tenant gets (tenants.schemas.TenantCreate); existing tenants get it too.
DEFAULT_MAX_RESULT_BYTES = 10_000_000


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "max_result_bytes",
                sa.Integer(),
                nullable=False,
                server_default=sa.text(str(DEFAULT_MAX_RESULT_BYTES)),
            )
        )
    # The default fills the existing rows only: new ones are given a value by the registry.
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.alter_column("max_result_bytes", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("max_result_bytes")
