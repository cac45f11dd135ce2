"""Secret values and Polaris-compatible seed encryption.

Seeds are wrapped in :class:`Secret` as soon as they are read so that ``repr()``,
``str()``, logging and exception messages can never show them by accident.

The encrypted form is exactly django-polaris's ``EncryptedTextField``:
``base64url(salt[16] || fernet_token_bytes)`` where the Fernet key is
PBKDF2-HMAC-SHA256(SECRET_KEY, salt, 100000 iterations, 32 bytes), base64url-encoded.
An anchor can therefore keep the ``distribution_seed`` values Polaris wrote.
"""

from __future__ import annotations

import binascii
import os
from base64 import urlsafe_b64decode, urlsafe_b64encode
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from anchor_dramatiq.errors import SeedDecryptionError

SALT_BYTES = 16
PBKDF2_ITERATIONS = 100_000


class Secret:
    """A string that refuses to show itself; call :meth:`reveal` where it is really used."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple:
        raise TypeError("a Secret cannot be pickled or sent in a message")


@lru_cache(maxsize=256)
def _fernet(secret_key: str, salt: bytes) -> Fernet:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=PBKDF2_ITERATIONS)
    return Fernet(urlsafe_b64encode(kdf.derive(secret_key.encode())))


def encrypt_seed(seed: Secret, secret_key: Secret) -> str:
    """Encrypt ``seed`` the way Polaris stores ``polaris_asset.distribution_seed``."""
    salt = os.urandom(SALT_BYTES)
    token = _fernet(secret_key.reveal(), salt).encrypt(seed.reveal().encode())
    return urlsafe_b64encode(salt + urlsafe_b64decode(token)).decode()


def decrypt_seed(encrypted: str, secret_key: Secret) -> Secret:
    """Decrypt a value written by :func:`encrypt_seed` or by django-polaris."""
    try:
        raw = urlsafe_b64decode(encrypted.encode())
        salt, token = raw[:SALT_BYTES], urlsafe_b64encode(raw[SALT_BYTES:])
        return Secret(_fernet(secret_key.reveal(), salt).decrypt(token).decode())
    except (InvalidToken, binascii.Error, ValueError, UnicodeError):
        raise SeedDecryptionError(
            "stored seed cannot be decrypted: wrong ANCHOR_SECRET_KEY or not a Polaris-encrypted value"
        ) from None
