"""connectors: poll cursors, connector health and incidents, retryable quarantine

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 19:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('headers', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('retried_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('retry_outcome', sa.Text(), nullable=True))
    op.create_table('poll_cursors',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('position', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'connector')
    )
    op.create_table('connector_health',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('received', sa.BigInteger(), nullable=False),
    sa.Column('accepted', sa.BigInteger(), nullable=False),
    sa.Column('duplicate', sa.BigInteger(), nullable=False),
    sa.Column('ignored', sa.BigInteger(), nullable=False),
    sa.Column('quarantined', sa.BigInteger(), nullable=False),
    sa.Column('rejected', sa.BigInteger(), nullable=False),
    sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('poll_cycles', sa.BigInteger(), nullable=False),
    sa.Column('last_poll_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_poll_pages', sa.Integer(), nullable=True),
    sa.Column('last_poll_events', sa.Integer(), nullable=True),
    sa.Column('failures_in_row', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error_permanent', sa.Boolean(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'connector')
    )
    op.create_table('connector_incidents',
    sa.Column('id', _Seq, autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notified_open_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notified_resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_incidents_open', 'connector_incidents',
                    ['tenant', 'connector', 'kind', 'resolved_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_incidents_open', table_name='connector_incidents')
    op.drop_table('connector_incidents')
    op.drop_table('connector_health')
    op.drop_table('poll_cursors')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_column('retry_outcome')
        batch_op.drop_column('retried_at')
        batch_op.drop_column('headers')
        batch_op.drop_column('kind')
