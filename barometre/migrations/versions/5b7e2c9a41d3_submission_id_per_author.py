"""submission_id scoped to its author, stored in lower case

Another author's report under the same submission_id is a new report: the
unique constraint moves from (submission_id) to (author_id, submission_id).
Ids stored in upper case are lowered where that makes no duplicate for their
author, so that a retry in either case finds its first report.

Revision ID: 5b7e2c9a41d3
Revises: a7c3e19b5d42
Create Date: 2026-11-30 19:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b7e2c9a41d3'
down_revision = 'a7c3e19b5d42'
branch_labels = None
depends_on = None

LOWER_WHERE_FREE = sa.text(
    "UPDATE report SET submission_id = lower(submission_id) "
    "WHERE submission_id <> lower(submission_id) AND NOT EXISTS ("
    " SELECT 1 FROM report AS other"
    " WHERE other.submission_id = lower(report.submission_id)"
    " AND other.author_id IS NOT DISTINCT FROM report.author_id)"
)
LOWER_WHERE_FREE_SQLITE = sa.text(
    "UPDATE report SET submission_id = lower(submission_id) "
    "WHERE submission_id <> lower(submission_id) AND NOT EXISTS ("
    " SELECT 1 FROM report AS other"
    " WHERE other.submission_id = lower(report.submission_id)"
    " AND other.author_id IS report.author_id)"
)


def upgrade():
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_constraint('uq_report_submission_id', type_='unique')
    sqlite = op.get_bind().dialect.name == 'sqlite'
    op.execute(LOWER_WHERE_FREE_SQLITE if sqlite else LOWER_WHERE_FREE)
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.create_unique_constraint(
            'uq_report_author_submission', ['author_id', 'submission_id']
        )


def downgrade():
    # Fails if two authors used one id since the upgrade: that is what the upgrade allows.
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_constraint('uq_report_author_submission', type_='unique')
        batch_op.create_unique_constraint('uq_report_submission_id', ['submission_id'])
