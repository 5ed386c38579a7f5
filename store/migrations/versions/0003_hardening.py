"""hardening: capped quarantine with size and hash, aggregated webhook rejections

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 16:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None



def upgrade() -> None:
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_size', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('body_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('body_truncated', sa.Boolean(), nullable=True))
        batch_op.create_index('ix_quarantine_received', ['received_at'], unique=False)
    op.create_table('webhook_rejections',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sample_delivery_id', sa.String(length=512), nullable=True),
    sa.Column('sample_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('tenant', 'connector', 'reason')
    )


def downgrade() -> None:
    op.drop_table('webhook_rejections')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index('ix_quarantine_received')
        batch_op.drop_column('body_truncated')
        batch_op.drop_column('body_sha256')
        batch_op.drop_column('body_size')
