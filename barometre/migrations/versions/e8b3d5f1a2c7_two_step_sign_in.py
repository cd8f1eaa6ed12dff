"""two-step sign-in: TOTP, recovery codes, passkeys, failed second steps

Revision ID: e8b3d5f1a2c7
Revises: d4f7a2c9e613
Create Date: 2026-12-07 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e8b3d5f1a2c7'
down_revision = 'd4f7a2c9e613'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('totp_secret', sa.String(length=64), server_default='', nullable=False)
        )
        batch_op.add_column(sa.Column('totp_confirmed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))
    op.create_table(
        'recovery_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_code_user_id'), ['user_id'], unique=False)
    op.create_table(
        'passkey_credential',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('credential_id', sa.String(length=400), nullable=False),
        sa.Column('public_key', sa.LargeBinary(), nullable=False),
        sa.Column('sign_count', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('credential_id'),
    )
    with op.batch_alter_table('passkey_credential', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_passkey_credential_user_id'), ['user_id'], unique=False
        )
    op.create_table(
        'second_step_failure',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('account_key', sa.String(length=64), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('second_step_failure', schema=None) as batch_op:
        batch_op.create_index(
            'ix_second_step_failure_account_at', ['account_key', 'at'], unique=False
        )
        batch_op.create_index(
            'ix_second_step_failure_address_at', ['address', 'at'], unique=False
        )


def downgrade():
    with op.batch_alter_table('second_step_failure', schema=None) as batch_op:
        batch_op.drop_index('ix_second_step_failure_address_at')
        batch_op.drop_index('ix_second_step_failure_account_at')
    op.drop_table('second_step_failure')
    with op.batch_alter_table('passkey_credential', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passkey_credential_user_id'))
    op.drop_table('passkey_credential')
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_code_user_id'))
    op.drop_table('recovery_code')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_confirmed_at')
        batch_op.drop_column('totp_secret')
