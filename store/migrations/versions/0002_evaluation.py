"""evaluation

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 14:45:56.321204
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('achievement_versions',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('achievement', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'achievement', 'version')
    )
    op.create_table('feed',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=128), nullable=False),
    sa.Column('grant_id', sa.String(length=36), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('grant_id', 'channel', name='uq_feed_grant_channel')
    )
    with op.batch_alter_table('feed', schema=None) as batch_op:
        batch_op.create_index('ix_feed_person', ['tenant', 'person_id', 'id'], unique=False)

    op.create_table('grants',
    sa.Column('grant_id', sa.String(length=36), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=128), nullable=False),
    sa.Column('achievement', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('grant_id')
    )
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.create_index('ix_grants_outbox', ['tenant', 'shard', 'dispatched_at'], unique=False)
        batch_op.create_index('ix_grants_person', ['tenant', 'person_id'], unique=False)

    op.create_table('progress',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=128), nullable=False),
    sa.Column('achievement', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('first_events', sa.JSON(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'person_id', 'achievement', 'version')
    )
    op.create_table('shard_state',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('processed', sa.BigInteger(), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=True),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'shard')
    )
    op.create_table('deliveries',
    sa.Column('grant_id', sa.String(length=36), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.grant_id'], ),
    sa.PrimaryKeyConstraint('grant_id', 'channel')
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_status', ['tenant', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_status')

    op.drop_table('deliveries')
    op.drop_table('shard_state')
    op.drop_table('progress')
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_index('ix_grants_person')
        batch_op.drop_index('ix_grants_outbox')

    op.drop_table('grants')
    with op.batch_alter_table('feed', schema=None) as batch_op:
        batch_op.drop_index('ix_feed_person')

    op.drop_table('feed')
    op.drop_table('achievement_versions')
