"""identity: audit trail, recorded conflicts, revoked grants

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 23:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_Seq = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('identity_audit',
    sa.Column('id', _Seq, autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=128), nullable=False),
    sa.Column('other_person_id', sa.String(length=128), nullable=True),
    sa.Column('identity', sa.String(length=420), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_identity_audit_person', 'identity_audit', ['tenant', 'person_id', 'id'], unique=False)
    op.create_index('ix_identity_audit_identity', 'identity_audit', ['tenant', 'identity'], unique=False)
    op.create_table('identity_conflicts',
    sa.Column('id', _Seq, autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=320), nullable=False),
    sa.Column('winner_person', sa.String(length=128), nullable=False),
    sa.Column('winner_origin', sa.String(length=32), nullable=False),
    sa.Column('loser_person', sa.String(length=128), nullable=False),
    sa.Column('loser_origin', sa.String(length=32), nullable=False),
    sa.Column('moved', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_identity_conflicts_tenant', 'identity_conflicts', ['tenant', 'id'], unique=False)
    with op.batch_alter_table('grants') as batch:
        batch.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('revoked_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('grants') as batch:
        batch.drop_column('revoked_reason')
        batch.drop_column('revoked_at')
    op.drop_index('ix_identity_conflicts_tenant', table_name='identity_conflicts')
    op.drop_table('identity_conflicts')
    op.drop_index('ix_identity_audit_identity', table_name='identity_audit')
    op.drop_index('ix_identity_audit_person', table_name='identity_audit')
    op.drop_table('identity_audit')
