"""establishment: whom at Fidex its contacts answer and what the committee asks of them

Revision ID: d4f7a2c9e613
Revises: c9d4e6a2f175
Create Date: 2026-12-07 09:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4f7a2c9e613'
down_revision = 'c9d4e6a2f175'
branch_labels = None
depends_on = None

COLUMNS = (
    ('fidex_contact_name', sa.String(length=200)),
    ('fidex_contact_email', sa.String(length=254)),
    ('fidex_contact_phone', sa.String(length=40)),
    ('committee_request', sa.Text()),
    ('committee_request_nl', sa.Text()),
    ('committee_request_en', sa.Text()),
)


def upgrade():
    # Empty for every establishment: the FIDEX_CONTACT_* settings and the default request.
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        for name, kind in COLUMNS:
            batch_op.add_column(sa.Column(name, kind, server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        for name, _kind in reversed(COLUMNS):
            batch_op.drop_column(name)
