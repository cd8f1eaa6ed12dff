"""account emails as notifications; password reset requests

Revision ID: e5a1c3f7b902
Revises: e5a9c2f17b84
Create Date: 2026-11-30 22:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5a1c3f7b902'
down_revision = 'e5a9c2f17b84'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('reset_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('account_key', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reset_request'))
    )
    with op.batch_alter_table('reset_request', schema=None) as batch_op:
        batch_op.create_index('ix_reset_request_account_at', ['account_key', 'at'], unique=False)
        batch_op.create_index('ix_reset_request_address_at', ['address', 'at'], unique=False)

    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_notification_user_id'), ['user_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_notification_user_id_user_account'), 'user_account', ['user_id'], ['id'])


def downgrade():
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_notification_user_id_user_account'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_notification_user_id'))
        batch_op.drop_column('user_id')

    with op.batch_alter_table('reset_request', schema=None) as batch_op:
        batch_op.drop_index('ix_reset_request_address_at')
        batch_op.drop_index('ix_reset_request_account_at')

    op.drop_table('reset_request')
