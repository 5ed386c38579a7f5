"""scim: provisioned users and groups, their identity changes, suspended persons

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 20:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('scim_users',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=128), nullable=False),
    sa.Column('user_name', sa.String(length=320), nullable=False),
    sa.Column('user_name_key', sa.String(length=320), nullable=False),
    sa.Column('external_id', sa.String(length=320), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('resource', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'id'),
    sa.UniqueConstraint('tenant', 'user_name_key', name='uq_scim_users_user_name')
    )
    op.create_index('ix_scim_users_external_id', 'scim_users', ['tenant', 'external_id'], unique=False)
    op.create_table('scim_groups',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=320), nullable=False),
    sa.Column('external_id', sa.String(length=320), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'id')
    )
    op.create_table('scim_group_members',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('group_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'group_id', 'user_id')
    )
    op.create_table('scim_changes',
    sa.Column('id', _Seq, autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('scim_id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_scim_changes_user', 'scim_changes', ['tenant', 'scim_id', 'id'], unique=False)
    op.create_table('suspended_persons',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'person_id')
    )


def downgrade() -> None:
    op.drop_table('suspended_persons')
    op.drop_index('ix_scim_changes_user', table_name='scim_changes')
    op.drop_table('scim_changes')
    op.drop_table('scim_group_members')
    op.drop_table('scim_groups')
    op.drop_index('ix_scim_users_external_id', table_name='scim_users')
    op.drop_table('scim_users')
