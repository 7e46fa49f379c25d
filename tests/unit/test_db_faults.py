"""Which database errors are one record's fault (dead-letter it after its attempts) and which fail
every record alike (retry, alert): by SQLSTATE class, through SQLAlchemy's wrapping; and which
mean the database is away (the sender waits them out rather than leave a sent email unrecorded)."""

from __future__ import annotations

import pytest
from asyncpg import exceptions as pg
from sqlalchemy.exc import DBAPIError

from shared.consumers import is_outage
from shared.db import systemic, transient


def _wrapped(orig: BaseException) -> DBAPIError:
    """As SQLAlchemy raises it: the driver's error as `orig` (its cause chained)."""
    error = DBAPIError("INSERT ...", {}, orig)
    error.__cause__ = orig
    return error


@pytest.mark.parametrize(
    ("error", "is_systemic"),
    [
        (pg.UndefinedTableError("relation does not exist"), True),  # 42P01
        (pg.InsufficientPrivilegeError("permission denied"), True),  # 42501
        (pg.DiskFullError("no space left"), True),  # 53100
        (pg.AdminShutdownError("terminating connection"), True),  # 57P01
        (pg.CharacterNotInRepertoireError("invalid byte sequence 0x00"), False),  # 22021
        (pg.NumericValueOutOfRangeError("out of range"), False),  # 22003
        (pg.UniqueViolationError("duplicate key"), False),  # 23505
        (ValueError("a bug this record trips"), False),
    ],
)
def test_database_errors_are_systemic_unless_the_data_caused_them(error, is_systemic):
    assert systemic(error) is is_systemic
    assert systemic(_wrapped(error)) is is_systemic
    assert is_outage(_wrapped(error)) is is_systemic


@pytest.mark.parametrize(
    ("error", "is_transient"),
    [
        # what a fast shutdown raised while the sender recorded a sent email (a system test saw the
        # email go out twice once the lease ran out)
        (pg.CannotConnectNowError("the database system is shutting down"), True),  # 57P03
        (pg.AdminShutdownError("terminating connection due to administrator command"), True),  # 57P01
        (pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),  # 08003
        (ConnectionRefusedError(111, "Connection refused"), True),
        (pg.UndefinedTableError("relation does not exist"), False),  # an outage, but not an absence
        (pg.UniqueViolationError("duplicate key"), False),
        (ValueError("a bug"), False),
    ],
)
def test_a_database_that_is_away_is_transient_however_sqlalchemy_wraps_it(error, is_transient):
    assert transient(error) is is_transient
    assert transient(_wrapped(error)) is is_transient
