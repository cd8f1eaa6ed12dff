"""history import: report reference, situations resolved by an import

Revision ID: b7e3a1c94d20
Revises: dd75c34af1e9
Create Date: 2026-11-30 19:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e3a1c94d20'
down_revision = 'dd75c34af1e9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('import_reference', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_report_import_reference'), ['import_reference'])

    with op.batch_alter_table('situation', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'closed_by_import', sa.Boolean(), server_default=sa.text('false'), nullable=False
            )
        )


def downgrade():
    with op.batch_alter_table('situation', schema=None) as batch_op:
        batch_op.drop_column('closed_by_import')

    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_report_import_reference'), type_='unique')
        batch_op.drop_column('import_reference')
