"""encrypt the Slack tokens already stored

Rows written before tokens were encrypted hold them in clear. With AUDIOGPT_SECRET_KEY
set at upgrade time they are rewritten as ``enc:v1:`` Fernet ciphertext; without it the
upgrade changes nothing and the Slack adapter says at start, in one sentence, that the
key is missing (and seals them at the first start that has it). No schema change: the
columns are Text already. Downgrade decrypts, and needs the key when any value is sealed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from audiogpt.storage.secretbox import KEY_SETTING, SecretKeyError, TokenCipher, is_encrypted

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

COLUMNS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
installations = sa.table("slack_installations", sa.column("id", sa.Integer), *(sa.column(c, sa.Text) for c in COLUMNS))


def _cipher() -> TokenCipher | None:
    """The key the caller handed over (``config.attributes["secret_key"]``), else the settings'."""
    key = context.config.attributes.get("secret_key")
    if key is None:
        from audiogpt.config import Settings

        secret = Settings().secret_key
        key = secret.get_secret_value() if secret else None
    return TokenCipher.from_setting(key)


def _rewrite(change: str) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(installations)).mappings().all()
    cipher = _cipher()
    for row in rows:
        values = {c: row[c] for c in COLUMNS}
        if change == "seal":
            if cipher is None:
                return
            new = {c: cipher.encrypt(v) for c, v in values.items()}
        else:
            if cipher is None:
                if any(is_encrypted(v) for v in values.values()):
                    raise SecretKeyError(f"downgrading past 0004 decrypts the stored Slack tokens and needs {KEY_SETTING}.")
                continue
            new = {c: cipher.decrypt(v) for c, v in values.items()}
        if new != values:
            bind.execute(sa.update(installations).where(installations.c.id == row["id"]).values(**new))


def upgrade() -> None:
    _rewrite("seal")


def downgrade() -> None:
    _rewrite("open")
