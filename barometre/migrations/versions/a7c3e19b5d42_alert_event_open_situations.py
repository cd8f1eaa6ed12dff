"""alert event: the open situations it states (messages that explain themselves, R14)

Revision ID: a7c3e19b5d42
Revises: b7e3a1c94d20
Create Date: 2026-11-30 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c3e19b5d42'
down_revision = 'b7e3a1c94d20'
branch_labels = None
depends_on = None


def upgrade():
    # NULL for events recorded before: their emails list the new situations only.
    with op.batch_alter_table('alert_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('open_situation_ids', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('alert_event', schema=None) as batch_op:
        batch_op.drop_column('open_situation_ids')
