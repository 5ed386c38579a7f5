"""xapi: stored statements; email links derive their mbox_sha1sum key

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 20:30:00
"""

import hashlib

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('xapi_statements',
    sa.Column('seq', _Seq, autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('statement_id', sa.String(length=36), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('verb', sa.String(length=512), nullable=False),
    sa.Column('agent', sa.String(length=600), nullable=True),
    sa.Column('activity', sa.String(length=512), nullable=True),
    sa.Column('registration', sa.String(length=36), nullable=True),
    sa.Column('voids', sa.String(length=36), nullable=True),
    sa.Column('related_agents', sa.Text(), nullable=True),
    sa.Column('related_activities', sa.Text(), nullable=True),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('stored', sa.DateTime(timezone=True), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('tenant', 'connector', 'statement_id', name='uq_xapi_statements_id')
    )
    op.create_index('ix_xapi_statements_stored', 'xapi_statements',
                    ['tenant', 'connector', 'stored'], unique=False)
    _derive_sha1_keys()


def _derive_sha1_keys() -> None:
    """Email links made before this revision get the key `identity.resolve` derives now."""
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT tenant, value, person_id, linked_at FROM identities WHERE system = 'email' AND kind = 'id'"
    )).all()
    for row in rows:
        digest = hashlib.sha1(f"mailto:{row.value}".encode()).hexdigest()  # noqa: S324 - xAPI's key
        conn.execute(sa.text(
            "INSERT INTO identities (tenant, system, kind, value, person_id, origin, linked_at) "
            "VALUES (:tenant, 'mbox_sha1sum', 'id', :value, :person, 'derived', :at)"
        ), {"tenant": row.tenant, "value": digest, "person": row.person_id, "at": row.linked_at})


def downgrade() -> None:
    op.execute("DELETE FROM identities WHERE system = 'mbox_sha1sum' AND origin = 'derived'")
    op.drop_index('ix_xapi_statements_stored', table_name='xapi_statements')
    op.drop_table('xapi_statements')
