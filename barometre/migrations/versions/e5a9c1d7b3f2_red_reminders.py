"""red reminders: an alert event may be the n-th reminder of a red event

Revision ID: e5a9c1d7b3f2
Revises: 30b20d95f78f
Create Date: 2026-11-30 22:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5a9c1d7b3f2'
down_revision = '30b20d95f78f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('alert_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminder_of', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reminder_number', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_alert_event_reminder_of'), ['reminder_of', 'reminder_number'])
        batch_op.create_foreign_key(batch_op.f('fk_alert_event_reminder_of_alert_event'), 'alert_event', ['reminder_of'], ['id'])


def downgrade():
    with op.batch_alter_table('alert_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_alert_event_reminder_of_alert_event'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_alert_event_reminder_of'), type_='unique')
        batch_op.drop_column('reminder_number')
        batch_op.drop_column('reminder_of')
