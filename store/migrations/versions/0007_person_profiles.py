"""person profiles: time zone and locale per person, each with its source

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 22:55:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('person_profiles',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=128), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=True),
    sa.Column('time_zone_source', sa.String(length=16), nullable=True),
    sa.Column('locale', sa.String(length=35), nullable=True),
    sa.Column('locale_source', sa.String(length=16), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'person_id')
    )


def downgrade() -> None:
    op.drop_table('person_profiles')
