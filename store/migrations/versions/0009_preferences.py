"""delivery preferences per person; throttle admissions on deliveries

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 23:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('person_preferences',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=128), nullable=False),
    sa.Column('opt_out', sa.JSON(), nullable=False),
    sa.Column('quiet_hours', sa.String(length=11), nullable=True),
    sa.Column('digest', sa.String(length=8), nullable=True),
    sa.Column('throttle', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'person_id')
    )
    op.add_column('deliveries', sa.Column('admitted_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_deliveries_admitted', 'deliveries', ['tenant', 'person_id', 'admitted_at'])


def downgrade() -> None:
    op.drop_index('ix_deliveries_admitted', table_name='deliveries')
    op.drop_column('deliveries', 'admitted_at')
    op.drop_table('person_preferences')
