"""event log

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 14:38:57.968572
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=512), nullable=False),
    sa.Column('event_id', sa.String(length=512), nullable=False),
    sa.Column('type', sa.String(length=128), nullable=False),
    sa.Column('time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('tenant', 'source', 'event_id', name='uq_events_dedupe')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_tenant_type_time', ['tenant', 'type', 'time'], unique=False)

    op.create_table('identities',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=320), nullable=False),
    sa.Column('person_id', sa.String(length=128), nullable=False),
    sa.Column('origin', sa.String(length=32), nullable=False),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'system', 'kind', 'value')
    )
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.create_index('ix_identities_person', ['tenant', 'person_id'], unique=False)

    op.create_table('persons',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'person_id')
    )
    op.create_table('quarantine',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=128), nullable=False),
    sa.Column('delivery_id', sa.String(length=512), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('webhook_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('delivery_id', sa.String(length=512), nullable=True),
    sa.Column('event', sa.String(length=128), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('dropped', sa.Integer(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_log', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_log_connector', ['tenant', 'connector', 'id'], unique=False)

    op.create_table('event_queue',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.String(length=128), nullable=False),
    sa.Column('decision', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['seq'], ['events.seq'], ),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('event_queue', schema=None) as batch_op:
        batch_op.create_index('ix_event_queue_shard', ['tenant', 'shard', 'seq'], unique=False)

    op.create_table('parked',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('parked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['seq'], ['events.seq'], ),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('parked', schema=None) as batch_op:
        batch_op.create_index('ix_parked_tenant', ['tenant', 'seq'], unique=False)

    op.create_table('parked_keys',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=320), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['seq'], ['events.seq'], ),
    sa.PrimaryKeyConstraint('tenant', 'system', 'kind', 'value', 'seq')
    )


def downgrade() -> None:
    op.drop_table('parked_keys')
    with op.batch_alter_table('parked', schema=None) as batch_op:
        batch_op.drop_index('ix_parked_tenant')

    op.drop_table('parked')
    with op.batch_alter_table('event_queue', schema=None) as batch_op:
        batch_op.drop_index('ix_event_queue_shard')

    op.drop_table('event_queue')
    with op.batch_alter_table('webhook_log', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_log_connector')

    op.drop_table('webhook_log')
    op.drop_table('quarantine')
    op.drop_table('persons')
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.drop_index('ix_identities_person')

    op.drop_table('identities')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_tenant_type_time')

    op.drop_table('events')
