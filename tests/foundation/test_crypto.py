"""Seeds are encrypted exactly as django-polaris 2.6 encrypts distribution_seed."""

import base64

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from anchor_dramatiq.crypto import Secret, SeedDecryptionError, decrypt_seed, encrypt_seed

# Made by django-polaris 2.6.0's own EncryptedTextField.encrypt (Django settings.SECRET_KEY
# below), so decrypting it proves this project reads what Polaris wrote.
POLARIS_SECRET_KEY = "polaris-test-secret-key-1234567890"
POLARIS_SEED = "SBJVPVDBQDDDEN6EMOOJUBRGSG62V5YFWO63WWJFPZ4LJPEHN4ZONGW5"
POLARIS_ENCRYPTED = (
    "OW-Ga3cIaLUGbVOx_ErMzYAAAAAAawUNYUTyPWB3RUQQN6IdbaLRKJGU7ELlkjE89hrK4Z6fg-rexWUGCtcDsmsis0O"
    "oRLBbWzG_oug7t1A-6CN8YHhglMBzxrX-V0t1gAe7Fa9hJ6bHm8-XcLuOcV41_XdwkAPahIIROxhhELgUvh8xBN4LPcw="
)


def polaris_decrypt(value: str, secret_key: str) -> str:
    """Polaris's decryption as its README describes it, written from the primitives."""
    raw = base64.urlsafe_b64decode(value)
    salt, token = raw[:16], base64.urlsafe_b64encode(raw[16:])
    key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=100000).derive(
        secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key)).decrypt(token).decode()


def test_decrypts_what_polaris_encrypted():
    assert decrypt_seed(POLARIS_ENCRYPTED, Secret(POLARIS_SECRET_KEY)).reveal() == POLARIS_SEED


def test_polaris_decrypts_what_we_encrypt():
    encrypted = encrypt_seed(Secret(POLARIS_SEED), Secret(POLARIS_SECRET_KEY))
    assert encrypted != POLARIS_ENCRYPTED  # fresh salt each time
    assert polaris_decrypt(encrypted, POLARIS_SECRET_KEY) == POLARIS_SEED
    assert len(base64.urlsafe_b64decode(encrypted)) > 16


def test_wrong_key_is_a_clear_error_without_the_value():
    with pytest.raises(SeedDecryptionError) as caught:
        decrypt_seed(POLARIS_ENCRYPTED, Secret("another-secret-key-entirely"))
    assert "ANCHOR_SECRET_KEY" in str(caught.value)
    assert POLARIS_SEED not in str(caught.value)


def test_garbage_is_a_clear_error():
    with pytest.raises(SeedDecryptionError):
        decrypt_seed("not base64 at all!", Secret(POLARIS_SECRET_KEY))


def test_secret_never_shows_itself():
    secret = Secret(POLARIS_SEED)
    assert POLARIS_SEED not in repr(secret)
    assert POLARIS_SEED not in str(secret)
    assert POLARIS_SEED not in f"{secret} {[secret]} {dict(s=secret)}"
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(secret)
