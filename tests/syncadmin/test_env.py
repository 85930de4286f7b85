import pytest
from django.core.exceptions import ImproperlyConfigured

from syncadmin import env


def test_int_reads_and_validates(monkeypatch):
    monkeypatch.setenv("WORKERS", " 4 ")
    assert env.env_int("WORKERS", 1) == 4
    monkeypatch.setenv("WORKERS", "four")
    with pytest.raises(ImproperlyConfigured, match="WORKERS: expected an integer, got 'four'"):
        env.env_int("WORKERS", 1)
    monkeypatch.setenv("WORKERS", "0")
    with pytest.raises(ImproperlyConfigured, match="WORKERS: must be at least 1"):
        env.env_int("WORKERS", 1, minimum=1)


def test_int_default_when_unset(monkeypatch):
    monkeypatch.delenv("WORKERS", raising=False)
    assert env.env_int("WORKERS", 7) == 7


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("TRUE", True), ("on", True), ("no", False), ("0", False)])
def test_bool_accepts_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env.env_bool("FLAG", not expected) is expected


def test_bool_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG: expected true or false"):
        env.env_bool("DEBUG", False)


def test_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", "a.example, b.example,,")
    assert env.env_list("ALLOWED_HOSTS", []) == ["a.example", "b.example"]


def test_choice(monkeypatch):
    monkeypatch.setenv("SYNCADMIN_ENV", "staging")
    with pytest.raises(ImproperlyConfigured, match="SYNCADMIN_ENV: expected one of development, production"):
        env.env_choice("SYNCADMIN_ENV", "development", ("development", "production"))


def test_secret_from_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret))
    assert env.env_str("SECRET_KEY") == "s3cret"
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY_FILE: cannot read"):
        env.env_str("SECRET_KEY")


def test_database_url(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://sync:pw@db.internal:5433/sync")
    config = env.env_database("DATABASE_URL", "sqlite:///x.db")
    assert (config["ENGINE"], config["HOST"], config["PORT"], config["NAME"]) == (
        "django.db.backends.postgresql", "db.internal", 5433, "sync",
    )
    monkeypatch.setenv("DATABASE_URL", "mysql://u@h/db")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL: unsupported database URL scheme 'mysql'"):
        env.env_database("DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h:5432/")
    with pytest.raises(ImproperlyConfigured, match=r"DATABASE_URL: the database URL .* names no database"):
        env.env_database("DATABASE_URL", "sqlite:///x.db")


def test_database_default_is_sqlite(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert env.env_database("DATABASE_URL", "sqlite:////tmp/x.db")["ENGINE"] == "django.db.backends.sqlite3"


def test_redis_url(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert env.env_redis_url("REDIS_URL") == "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("REDIS_URL", "http://127.0.0.1:6379")
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL: expected redis://"):
        env.env_redis_url("REDIS_URL")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:notaport/0")
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL: invalid port"):
        env.env_redis_url("REDIS_URL")
