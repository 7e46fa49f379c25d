"""shared.db.connect_args: what the environment adds to a database URL (the password from a
secret file, TLS as libpq's sslmode names it); a URL's own password wins."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from shared.db import connect_args, tls_context

URL = "postgresql+asyncpg://aggregator@postgres:5432/tiendo"


def test_the_password_comes_from_its_file_or_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "aggregator_db_password"
    secret.write_text("from-the-file\n")
    assert connect_args(URL, {"DATABASE_PASSWORD_FILE": str(secret)}) == {"password": "from-the-file"}
    assert connect_args(URL, {"DATABASE_PASSWORD": "from-env"}) == {"password": "from-env"}
    both = {"DATABASE_PASSWORD_FILE": str(secret), "DATABASE_PASSWORD": "from-env"}
    assert connect_args(URL, both) == {"password": "from-the-file"}
    with_own = "postgresql+asyncpg://aggregator:in-url@postgres:5432/tiendo"
    assert connect_args(with_own, both) == {}  # the URL's own password is used as it is
    assert connect_args(URL, {}) == {}


def test_tls_modes(tmp_path: Path) -> None:
    assert "ssl" not in connect_args(URL, {})
    assert "ssl" not in connect_args(URL, {"DATABASE_SSLMODE": "disable"})
    assert connect_args(URL, {"DATABASE_SSLMODE": "require"})["ssl"] == "require"
    full = connect_args(URL, {"DATABASE_SSLMODE": "verify-full"})["ssl"]
    assert isinstance(full, ssl.SSLContext)
    assert full.verify_mode == ssl.CERT_REQUIRED and full.check_hostname
    ca_only = tls_context("verify-ca")
    assert isinstance(ca_only, ssl.SSLContext)
    assert ca_only.verify_mode == ssl.CERT_REQUIRED and not ca_only.check_hostname
    with pytest.raises(ValueError, match="DATABASE_SSLMODE"):
        connect_args(URL, {"DATABASE_SSLMODE": "on"})
    with pytest.raises(FileNotFoundError):  # a CA file that is not there is an error, not "no TLS"
        connect_args(URL, {"DATABASE_SSLMODE": "verify-full", "DATABASE_SSLROOTCERT": str(tmp_path / "nope")})
