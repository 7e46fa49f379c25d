"""`tiendo user create|list|disable` on the session's PostgreSQL: people's local accounts, only an
argon2id hash of each password stored, and a clear line for every ordinary mistake."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from typer.testing import CliRunner

from shared.cli import _register
from shared.cli import app as tiendo

pytestmark = pytest.mark.infra
PASSWORD = "Mat-khau-du-dai-2024"


async def cli(*args: str, database_url: str, input: str | None = None):
    _register()
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, tiendo, list(args), input=input, env={"DATABASE_URL": database_url}
    )


async def rows(database_url: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return await connection.fetch("SELECT * FROM intake.accounts ORDER BY login")
    finally:
        await connection.close()


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    return path


async def test_create_list_disable_and_only_an_argon2id_hash_is_stored(intake_db, password_file):
    made = await cli(
        "user", "create", "Le.Van.An", "--name", "Lê Văn An", "--role", "leader", "--agency", "CA-TINH",
        "--password-file", str(password_file), database_url=intake_db,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "created le.van.an: Lê Văn An, leader of CA-TINH" in made.output
    prompted = await cli(
        "user", "create", "thu.ky", "--name", "Thư ký Ban Chỉ đạo", "--role", "committee",
        database_url=intake_db, input=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output  # the prompt does not echo it

    stored = {r["login"]: r for r in await rows(intake_db)}
    assert set(stored) >= {"le.van.an", "thu.ky"}
    for row in (stored["le.van.an"], stored["thu.ky"]):
        assert row["password_hash"].startswith("$argon2id$")
        assert all(PASSWORD not in str(value) for value in row.values())
    assert (stored["le.van.an"]["role"], stored["le.van.an"]["agency"]) == ("leader", "CA-TINH")
    assert stored["thu.ky"]["agency"] is None

    listed = await cli("user", "list", database_url=intake_db)
    assert listed.exit_code == 0
    line = next(li for li in listed.output.splitlines() if li.startswith("le.van.an "))
    assert "leader  CA-TINH  Lê Văn An  active" in line
    assert "$argon2id$" not in listed.output and PASSWORD not in listed.output

    disabled = await cli("user", "disable", "LE.VAN.AN", database_url=intake_db)
    assert disabled.exit_code == 0 and "disabled le.van.an" in disabled.output
    assert {r["login"]: r["disabled_at"] for r in await rows(intake_db)}["le.van.an"] is not None
    listed = await cli("user", "list", database_url=intake_db)
    assert "Lê Văn An  disabled " in listed.output
    again = await cli("user", "disable", "le.van.an", database_url=intake_db)
    assert again.exit_code == 2 and "no active account with the login 'le.van.an'" in again.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--role", "boss"], "unknown role 'boss'; a person's role is one of: committee, leader, operator"),
        (["--role", "agency_system"], "agency systems use `tiendo agency token create AGENCY`"),
        (["--role", "leader"], "a leader's account needs the agency they lead: --agency CODE"),
        (["--role", "leader", "--agency", "CA-NOWHERE"], "'CA-NOWHERE' is not an agency of the plan"),
        (["--role", "operator", "--agency", "CA-TINH"], "--agency is only for leaders"),
    ],
)
async def test_create_refuses_a_wrong_role_or_agency_before_asking_a_password(intake_db, args, message):
    result = await cli("user", "create", "someone", "--name", "Ai đó", *args, database_url=intake_db)
    assert result.exit_code == 2
    assert message in result.output
    assert "Password" not in result.output and "Traceback" not in result.output
    assert all(r["login"] != "someone" for r in await rows(intake_db))


async def test_create_refuses_a_duplicate_login_a_short_password_and_a_password_argument(
    intake_db, password_file, tmp_path
):
    first = ["user", "create", "truc.ban", "--name", "Trực ban", "--role", "operator"]
    assert (await cli(*first, "--password-file", str(password_file), database_url=intake_db)).exit_code == 0
    duplicate = await cli(*first, "--password-file", str(password_file), database_url=intake_db)
    assert duplicate.exit_code == 2
    assert "the login 'truc.ban' exists already" in duplicate.output
    assert "Traceback" not in duplicate.output

    short = tmp_path / "short"
    short.write_text("ngan\n")
    refused = await cli(
        "user", "create", "khac", "--name", "Khác", "--role", "operator", "--password-file", str(short),
        database_url=intake_db,
    )  # fmt: skip
    assert refused.exit_code == 2 and "at least 12 characters" in refused.output
    missing = await cli(
        "user", "create", "khac", "--name", "Khác", "--role", "operator", "--password-file",
        str(tmp_path / "nowhere"), database_url=intake_db,
    )  # fmt: skip
    assert missing.exit_code == 2 and "cannot read the password file" in missing.output
    as_argument = await cli(
        "user", "create", "khac", "--name", "Khác", "--role", "operator", "--password", PASSWORD,
        database_url=intake_db,
    )  # fmt: skip
    assert as_argument.exit_code != 0  # there is no such option
    bad_login = await cli(
        "user", "create", "le van/an", "--name", "X", "--role", "operator", database_url=intake_db,
    )  # fmt: skip
    assert bad_login.exit_code == 2 and "is not a login" in bad_login.output
    assert "Password" not in bad_login.output  # refused before the prompt
    assert {r["login"] for r in await rows(intake_db)} & {"khac", "le van/an"} == set()


async def test_keys_create_writes_a_private_key_of_mode_600_and_will_not_overwrite_it(tmp_path):
    _register()
    runner = CliRunner()
    made = runner.invoke(tiendo, ["auth", "keys", "create", str(tmp_path / "keys")])
    assert made.exit_code == 0, made.output
    private = tmp_path / "keys" / "signing-key.jwk"
    assert f"AUTH_SIGNING_KEY_FILE={private}" in made.output
    assert private.stat().st_mode & 0o777 == 0o600
    assert '"d"' not in (tmp_path / "keys" / "jwks.json").read_text()  # the public half only
    before = private.read_text()
    again = runner.invoke(tiendo, ["auth", "keys", "create", str(tmp_path / "keys")])
    assert again.exit_code == 2 and "pass --force" in again.output
    assert private.read_text() == before
    forced = runner.invoke(tiendo, ["auth", "keys", "create", str(tmp_path / "keys"), "--force"])
    assert forced.exit_code == 0 and private.read_text() != before
