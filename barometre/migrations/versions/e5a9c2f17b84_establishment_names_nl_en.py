"""establishment names and committee note in Dutch and English

Optional: an empty text means "none given", and the French one is shown.

Revision ID: e5a9c2f17b84
Revises: e5a9c1d7b3f2
Create Date: 2026-11-30 22:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5a9c2f17b84'
down_revision = 'e5a9c1d7b3f2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('name_nl', sa.String(length=200), server_default='', nullable=False)
        )
        batch_op.add_column(
            sa.Column('name_en', sa.String(length=200), server_default='', nullable=False)
        )
        batch_op.add_column(
            sa.Column('committee_note_nl', sa.Text(), server_default='', nullable=False)
        )
        batch_op.add_column(
            sa.Column('committee_note_en', sa.Text(), server_default='', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        batch_op.drop_column('committee_note_en')
        batch_op.drop_column('committee_note_nl')
        batch_op.drop_column('name_en')
        batch_op.drop_column('name_nl')
