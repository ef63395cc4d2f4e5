"""scale-out: turn leases, the reply outbox on turns, runner and replica of jobs

Several bot processes share one database: a turn carries the lease of the process
running it (owner, lease_at) and the delivery lease and platform message id of its
reply; a job records which runner and replica ran it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 13:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('lease_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('delivery_owner', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('delivery_lease_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('delivery_attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('reply_message_id', sa.String(length=128), nullable=True))
        batch_op.create_index('ix_turn_status', ['status'], unique=False)
        batch_op.create_index('ix_turn_delivery', ['delivery'], unique=False)
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('runner', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('replica', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('replica')
        batch_op.drop_column('runner')
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_index('ix_turn_delivery')
        batch_op.drop_index('ix_turn_status')
        batch_op.drop_column('reply_message_id')
        batch_op.drop_column('delivery_attempts')
        batch_op.drop_column('delivery_lease_at')
        batch_op.drop_column('delivery_owner')
        batch_op.drop_column('lease_at')
        batch_op.drop_column('owner')
