"""reply parts: which parts of a multi-part reply were posted, and why a delivery gave up

A reply is several platform calls (text chunks, then uploads). ``reply_parts`` records each
part the platform accepted, so a delivery that failed half-way resumes at the first unsent
part; ``turns.delivery_error`` says why a delivery gave up after its last allowed attempt.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reply_parts',
    sa.Column('turn_id', sa.Integer(), nullable=False),
    sa.Column('part', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('message_id', sa.String(length=128), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['turn_id'], ['turns.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('turn_id', 'part')
    )
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_error', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_table('reply_parts')
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_column('delivery_error')
