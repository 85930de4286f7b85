import pytest

from syncadmin import crypto


def test_round_trip_and_not_plaintext(settings):
    settings.SECRETS_KEY = "k" * 40
    token = crypto.encrypt("-----BEGIN PRIVATE KEY-----\nabc")
    assert "PRIVATE" not in token
    assert crypto.decrypt(token) == "-----BEGIN PRIVATE KEY-----\nabc"
    assert crypto.encrypt("") == "" and crypto.decrypt("") == ""


def test_wrong_key_is_a_clear_error(settings):
    settings.SECRETS_KEY = "a" * 40
    token = crypto.encrypt("hunter2")
    settings.SECRETS_KEY = "b" * 40
    with pytest.raises(crypto.SecretUnreadable, match="SECRETS_KEY"):
        crypto.decrypt(token)


def test_rotation_keeps_old_secrets_readable(settings):
    settings.SECRETS_KEY = "old" * 12
    token = crypto.encrypt("hunter2")
    settings.SECRETS_KEY = f"{'new' * 12},{'old' * 12}"
    assert crypto.decrypt(token) == "hunter2"
    rotated = crypto.rotate(token)
    settings.SECRETS_KEY = "new" * 12
    assert crypto.decrypt(rotated) == "hunter2"


def test_falls_back_to_secret_key(settings):
    settings.SECRETS_KEY = None
    assert crypto.decrypt(crypto.encrypt("x")) == "x"
