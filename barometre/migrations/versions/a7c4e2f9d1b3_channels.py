"""webhook and chat channels; a notification's channel

Revision ID: a7c4e2f9d1b3
Revises: f1a6c3e8b207
Create Date: 2026-12-07 16:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c4e2f9d1b3'
down_revision = 'f1a6c3e8b207'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('channel',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('secret', sa.String(length=120), nullable=False),
    sa.Column('shown', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=True),
    sa.Column('service_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('removed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_channel_establishment_id_establishment')),
    sa.ForeignKeyConstraint(['service_id'], ['member_service.id'], name=op.f('fk_channel_service_id_member_service')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel'))
    )
    with op.batch_alter_table('channel', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_establishment_id'), ['establishment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_service_id'), ['service_id'], unique=False)

    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_notification_channel_id'), ['channel_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_notification_channel_id_channel'), 'channel', ['channel_id'], ['id'])


def downgrade():
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_notification_channel_id_channel'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_notification_channel_id'))
        batch_op.drop_column('channel_id')

    with op.batch_alter_table('channel', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_service_id'))
        batch_op.drop_index(batch_op.f('ix_channel_establishment_id'))

    op.drop_table('channel')
