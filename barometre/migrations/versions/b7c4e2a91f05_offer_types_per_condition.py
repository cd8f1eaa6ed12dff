"""offer types per condition: report_condition.offer_types

Each condition a report names carries the offer types it impacted (R1). Reports
stored before gave their offer types once: every condition of such a report keeps
all of them, which is what they meant.

Revision ID: b7c4e2a91f05
Revises: c4e1a7d2b9f0
Create Date: 2026-11-30 19:10:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "b7c4e2a91f05"
down_revision = "c4e1a7d2b9f0"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade():
    with op.batch_alter_table("report_condition", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("offer_types", sa.String(length=64), server_default="", nullable=False)
        )
    copy_report_types(op.get_bind())


def copy_report_types(bind):
    """Every condition of a report gets the report's offer types, in the usual order."""
    rows = bind.execute(
        sa.text(
            "SELECT l.report_id, o.code FROM report_offer_type l"
            " JOIN offer_type o ON o.id = l.offer_type_id"
            " ORDER BY l.report_id, o.position, o.code"
        )
    )
    types: dict[int, list[str]] = {}
    for report_id, code in rows:
        types.setdefault(report_id, []).append(code)
    update = sa.text("UPDATE report_condition SET offer_types = :types WHERE report_id = :report")
    values = [{"report": r, "types": ",".join(codes)} for r, codes in types.items()]
    for start in range(0, len(values), BATCH):
        bind.execute(update, values[start : start + BATCH])


def downgrade():
    with op.batch_alter_table("report_condition", schema=None) as batch_op:
        batch_op.drop_column("offer_types")
