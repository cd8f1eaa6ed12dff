"""level change: the situations it closed (every change says its cause, R15);
committee note: when and at which level it was written

Revision ID: c9d4e6a2f175
Revises: f3b8d2a61c47
Create Date: 2026-12-07 09:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c9d4e6a2f175'
down_revision = 'f3b8d2a61c47'
branch_labels = None
depends_on = None


def upgrade():
    # NULL for changes recorded before: their cause is told without the situations it closed.
    with op.batch_alter_table('level_change', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_situation_ids', sa.JSON(), nullable=True))
    # NULL for notes written before: shown without a date, as current.
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('committee_note_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('committee_note_colour', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('committee_note_step', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        batch_op.drop_column('committee_note_step')
        batch_op.drop_column('committee_note_colour')
        batch_op.drop_column('committee_note_at')
    with op.batch_alter_table('level_change', schema=None) as batch_op:
        batch_op.drop_column('closed_situation_ids')
