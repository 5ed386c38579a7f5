"""rule time: per-kind progress state, due times per shard, the `without` index

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 23:00:00

`progress.state` is the rule kind's state as JSON; NULL marks a row written before this
revision (a plain count, read from the old columns), so today's rows keep evaluating.
`due_at` is the next instant the row can change with no event; `shard` is the evaluator
shard the person belongs to, so each evaluator finds its own due rows. Pre-0008 rows have
neither (a count never comes due). `first_seen` is the `without` index (store.first_seen);
`rule_skips` records each (event, rule) a rule could not evaluate (store.skips).
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('progress', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('shard', sa.Integer(), nullable=True))
        batch_op.create_index('ix_progress_due', ['tenant', 'shard', 'due_at'], unique=False)
    op.create_table('first_seen',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=128), nullable=False),
    sa.Column('attribute', sa.String(length=128), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'type', 'attribute', 'value')
    )
    op.create_table('rule_skips',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('event_key', sa.Text(), nullable=False),
    sa.Column('achievement', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rule_skips', schema=None) as batch_op:
        batch_op.create_index('ix_rule_skips_shard', ['tenant', 'shard', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('rule_skips')
    op.drop_table('first_seen')
    with op.batch_alter_table('progress', schema=None) as batch_op:
        batch_op.drop_index('ix_progress_due')
        batch_op.drop_column('shard')
        batch_op.drop_column('due_at')
        batch_op.drop_column('state')
