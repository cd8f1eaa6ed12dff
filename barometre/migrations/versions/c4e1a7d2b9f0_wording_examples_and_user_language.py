"""wording: examples in nl/en, a user's language may be unchosen

Conditions get their examples in Dutch and English (no French example on a
Dutch or English page); `flask seed` fills them. A user's language becomes
nullable: NULL means "never chosen", and the browser's language is used.
Existing accounts keep the language they have.

Revision ID: c4e1a7d2b9f0
Revises: 5b7e2c9a41d3
Create Date: 2026-11-30 19:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e1a7d2b9f0'
down_revision = '5b7e2c9a41d3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('condition', schema=None) as batch_op:
        batch_op.add_column(sa.Column('examples_nl', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('examples_en', sa.Text(), server_default='', nullable=False))
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.alter_column('language', existing_type=sa.String(length=2), nullable=True)


def downgrade():
    op.execute("UPDATE user_account SET language = 'fr' WHERE language IS NULL")
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.alter_column('language', existing_type=sa.String(length=2), nullable=False)
    with op.batch_alter_table('condition', schema=None) as batch_op:
        batch_op.drop_column('examples_en')
        batch_op.drop_column('examples_nl')
