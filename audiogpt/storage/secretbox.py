"""Encryption of credentials stored in SQL (Slack workspace tokens), with Fernet.

A multi-workspace Slack deployment keeps every workspace's bot token in the database, so a
leaked backup or a read-only SQL injection would otherwise hand out working tokens.
Values are stored as ``enc:v1:<Fernet token>``: the prefix tells an encrypted value from a
plaintext one written before encryption existed, so both can be read while migration 0004
(or the store's start-up pass) rewrites the old ones.

The key is ``AUDIOGPT_SECRET_KEY``: a Fernet key (urlsafe base64 of 32 bytes, see
:func:`new_key`), or several separated by commas to rotate keys: the first encrypts, any of
them decrypts.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "enc:v1:"
KEY_SETTING = "AUDIOGPT_SECRET_KEY"


class SecretKeyError(RuntimeError):
    """The secret key is missing, malformed or not the one that encrypted a value; ``str()`` is
    one sentence for the operator."""


def new_key() -> str:
    """A fresh key for ``AUDIOGPT_SECRET_KEY``."""
    return Fernet.generate_key().decode("ascii")


def is_encrypted(value: str | None) -> bool:
    return bool(value) and str(value).startswith(PREFIX)


class TokenCipher:
    """Encrypts and decrypts stored tokens; ``None`` passes through unchanged."""

    def __init__(self, key: str) -> None:
        parts = [k.strip() for k in key.split(",") if k.strip()]
        try:
            self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in parts])
        except (ValueError, UnicodeEncodeError, TypeError) as exc:
            raise SecretKeyError(f"{KEY_SETTING} is not a valid Fernet key (urlsafe base64 of 32 bytes); "
                                 "make one with `audiogpt slack secret-key`.") from exc

    @classmethod
    def from_setting(cls, key: str | None) -> TokenCipher | None:
        """The cipher of a configured key, or ``None`` when no key is set."""
        return cls(key) if key and key.strip() else None

    def encrypt(self, value: str | None) -> str | None:
        if value is None or is_encrypted(value):
            return value
        return PREFIX + self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, value: str | None) -> str | None:
        if not is_encrypted(value):
            return value  # None, or a plaintext value from before encryption
        assert value is not None
        try:
            return self._fernet.decrypt(value[len(PREFIX):].encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise SecretKeyError(f"a stored Slack token was encrypted with another key than {KEY_SETTING}; "
                                 "set the key it was encrypted with (old keys may follow the new one, "
                                 "comma-separated).") from exc


def decrypt_or_explain(cipher: TokenCipher | None, value: str | None) -> str | None:
    """Plaintext of a stored value; an encrypted value without a key is one clear sentence."""
    if cipher is None:
        if is_encrypted(value):
            raise SecretKeyError(f"Slack tokens in the database are encrypted but {KEY_SETTING} is not set; "
                                 "set the key they were encrypted with.")
        return value
    return cipher.decrypt(value)
