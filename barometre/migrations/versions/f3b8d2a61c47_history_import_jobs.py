"""history import jobs

Revision ID: f3b8d2a61c47
Revises: a55e3b0ae66f
Create Date: 2026-12-06 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f3b8d2a61c47'
down_revision = 'a55e3b0ae66f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('import_job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('folder', sa.String(length=500), nullable=False),
    sa.Column('with_resolutions', sa.Boolean(), nullable=False),
    sa.Column('total_lines', sa.Integer(), nullable=False),
    sa.Column('lines_read', sa.Integer(), nullable=False),
    sa.Column('totals', sa.JSON(), nullable=False),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_import_job_created_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_job'))
    )


def downgrade():
    op.drop_table('import_job')
