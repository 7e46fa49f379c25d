"""The embedded identity's doors on intake, on the session's PostgreSQL: the OAuth 2.0 token
endpoint (both grants and every refusal, RFC 6749 errors, rate limit), the served JWKS that
shared.auth's verifier accepts, and the login page's session, CSRF and redirect rules."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from http.cookies import SimpleCookie

import httpx
import pytest

from services.intake.bootstrap import bootstrap as intake_bootstrap
from services.intake.entrypoints.http import create_app
from services.intake.entrypoints.login import safe_next
from shared.auth import CSRF_COOKIE, SESSION_COOKIE, AuthSettings, Principal, Role
from shared.auth.tokens import KeySource, TokenVerifier, generate_signing_key

from .conftest import NOW, Service, make_settings, start_service

pytestmark = pytest.mark.infra
PASSWORD = "Mat-khau-du-dai-2024"
AGGREGATOR = "http://127.0.0.1:8082"
FAILED_VI = "Tên đăng nhập hoặc mật khẩu không đúng."
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return generate_signing_key(tmp_path_factory.mktemp("issuer"))


@pytest.fixture(scope="module")
async def service(intake_db, kafka_bootstrap, keys) -> AsyncIterator[Service]:
    private, public = keys
    async for s in start_service(
        intake_db,
        kafka_bootstrap,
        auth=AuthSettings(jwks_file=public),
        AUTH_SIGNING_KEY_FILE=private,
        INTAKE_RAW_CONSUMER=False,
        INTAKE_LOGIN_NEXT_ORIGINS=f"{AGGREGATOR}, http://localhost:8082",
        INTAKE_LOGIN_HOME=f"{AGGREGATOR}/board",
    ):
        accounts = s.container.accounts
        assert accounts is not None
        now = datetime.now(UTC)
        await accounts.create("le.van.an", "Lê Văn An", Role.LEADER, "CA-TINH", PASSWORD, now)
        await accounts.create("thu.ky", "Thư ký Ban Chỉ đạo", Role.COMMITTEE, None, PASSWORD, now)
        await accounts.create("da.nghi", "Đã nghỉ", Role.OPERATOR, None, PASSWORD, now)
        await accounts.disable("da.nghi", now)
        yield s


def client_from(service: Service, address: str, base_url: str = "http://intake") -> httpx.AsyncClient:
    """A client at an address of its own: each test spends its own failed-attempt budget."""
    transport = httpx.ASGITransport(app=service.client._transport.app, client=(address, 40000))  # type: ignore[attr-defined]
    return httpx.AsyncClient(transport=transport, base_url=base_url)


async def served_verifier(client: httpx.AsyncClient, tmp_path) -> TokenVerifier:
    """shared.auth's verifier over the JWKS intake serves (not the file the test made)."""
    answer = await client.get("/.well-known/jwks.json")
    assert answer.status_code == 200
    assert all("d" not in key for key in answer.json()["keys"])  # public keys only
    path = tmp_path / "served-jwks.json"
    path.write_text(answer.text)
    return TokenVerifier(KeySource(jwks_file=path))


async def token_request(client: httpx.AsyncClient, data: dict, **kwargs) -> httpx.Response:
    return await client.post("/v1/auth/token", data=data, **kwargs)


# ---------------------------------------------------------------- the token endpoint


async def test_the_password_grant_gives_a_person_a_token_that_verifies_against_the_served_jwks(
    service, tmp_path
):
    async with client_from(service, "10.0.1.1") as client:
        answer = await token_request(
            client, {"grant_type": "password", "username": "Le.Van.An", "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        body = answer.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
        verifier = await served_verifier(client, tmp_path)
    assert verifier.verify(body["access_token"]) == Principal(
        "le.van.an", "Lê Văn An", Role.LEADER, "CA-TINH"
    )


@pytest.mark.parametrize("presented_as", ["client_secret", "basic", "bearer"])
async def test_the_client_credentials_grant_gives_an_agency_system_a_token_for_its_agency(
    service, tmp_path, presented_as
):
    secret = await service.token("CA-DAKRONG")
    data = {"grant_type": "client_credentials"}
    headers = {}
    if presented_as == "client_secret":
        data |= {"client_id": "CA-DAKRONG", "client_secret": secret}
    elif presented_as == "basic":
        headers["authorization"] = "Basic " + base64.b64encode(f"CA-DAKRONG:{secret}".encode()).decode()
    else:
        headers["authorization"] = f"Bearer {secret}"
    async with client_from(service, "10.0.2.1") as client:
        answer = await token_request(client, data, headers=headers)
        assert answer.status_code == 200, answer.text
        principal = (await served_verifier(client, tmp_path)).verify(answer.json()["access_token"])
    assert (principal.role, principal.agency) == (Role.AGENCY_SYSTEM, "CA-DAKRONG")
    assert principal.subject == "agency-system:CA-DAKRONG"


@pytest.mark.parametrize(
    "data",
    [
        {"grant_type": "password", "username": "le.van.an", "password": PASSWORD + "x"},
        {"grant_type": "password", "username": "khong.co.ai", "password": PASSWORD},
        {"grant_type": "password", "username": "da.nghi", "password": PASSWORD},  # disabled
    ],
    ids=["wrong-password", "unknown-login", "disabled"],
)
async def test_every_refused_person_gets_the_same_invalid_grant(service, data):
    async with client_from(service, "10.0.3.1") as client:
        answer = await token_request(client, data)
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "the login or the password is wrong, or the account is disabled",
    }
    assert "access_token" not in answer.text


@pytest.mark.parametrize(
    "data, status, error",
    [
        ({"grant_type": "authorization_code", "code": "x"}, 400, "unsupported_grant_type"),
        ({"grant_type": "implicit"}, 400, "unsupported_grant_type"),
        ({"username": "le.van.an", "password": PASSWORD}, 400, "invalid_request"),
        ({"grant_type": "password", "username": "le.van.an"}, 400, "invalid_request"),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
        (
            {"grant_type": "client_credentials", "client_secret": "tdo_000000000000_" + "x" * 43},
            401,
            "invalid_client",
        ),
        ({"grant_type": "client_credentials", "client_secret": "not-a-token"}, 401, "invalid_client"),
    ],
)
async def test_bad_requests_get_rfc_6749_errors(service, data, status, error):
    async with client_from(service, "10.0.4.1") as client:
        answer = await token_request(client, data)
    assert (answer.status_code, answer.json()["error"]) == (status, error)
    if status == 401:
        assert answer.headers["www-authenticate"].startswith("Basic")


async def test_a_json_body_or_a_repeated_parameter_is_an_invalid_request(service):
    async with client_from(service, "10.0.4.2") as client:
        as_json = await client.post("/v1/auth/token", json={"grant_type": "password"})
        repeated = await client.post(
            "/v1/auth/token", content="grant_type=password&grant_type=client_credentials", headers=FORM
        )
    assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
    assert (repeated.status_code, repeated.json()["error"]) == (400, "invalid_request")
    assert "grant_type" in repeated.json()["error_description"]


async def test_a_revoked_agency_token_or_another_agencys_client_id_is_an_invalid_client(service):
    secret = await service.token("CA-TINH")
    async with client_from(service, "10.0.5.1") as client:
        foreign = await token_request(
            client, {"grant_type": "client_credentials", "client_id": "CA-DAKRONG", "client_secret": secret}
        )
        assert (foreign.status_code, foreign.json()["error"]) == (401, "invalid_client")
        await service.container.tokens.revoke("CA-TINH", NOW, secret.split("_")[1])
        service.monotonic.t += 3600  # past the token cache's TTL: the revocation bites
        revoked = await token_request(
            client, {"grant_type": "client_credentials"}, headers={"authorization": f"Bearer {secret}"}
        )
    assert (revoked.status_code, revoked.json()["error"]) == (401, "invalid_client")
    assert revoked.headers["www-authenticate"].startswith("Bearer")


async def test_guessing_passwords_is_rate_limited_before_argon2(service):
    wrong = {"grant_type": "password", "username": "thu.ky", "password": "doan-thu-" + "x" * 8}
    async with client_from(service, "10.0.6.1") as client:
        answers = [await token_request(client, wrong) for _ in range(service.settings.auth_address_burst + 1)]
        assert [a.status_code for a in answers[:-1]] == [400] * service.settings.auth_address_burst
        assert answers[-1].status_code == 429
        assert answers[-1].json()["error"] == "slow_down"
        assert int(answers[-1].headers["retry-after"]) >= 1
        # the right password from that address is refused too until it waits
        right = await token_request(client, {**wrong, "password": PASSWORD})
        assert right.status_code == 429
        page = await client.get("/login")
        limited = await client.post(
            "/login",
            data={"login": "thu.ky", "password": PASSWORD, "csrf": page.cookies[CSRF_COOKIE]},
        )
        assert limited.status_code == 429 and "Vui lòng thử lại sau" in limited.text
    async with client_from(service, "10.0.6.2") as elsewhere:  # another address: its own budget
        assert (await token_request(elsewhere, {**wrong, "password": PASSWORD})).status_code == 200


# ---------------------------------------------------------------- without a signing key


@pytest.fixture(scope="module")
def keyless(intake_db, kafka_bootstrap):
    """Intake with no AUTH_SIGNING_KEY_FILE (no lifespan: these routes touch nothing else)."""
    app = create_app(intake_bootstrap(make_settings(intake_db, kafka_bootstrap, INTAKE_RAW_CONSUMER=False)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")


async def test_without_a_signing_key_the_token_endpoint_keys_and_login_answer_503(keyless):
    token = await token_request(keyless, {"grant_type": "password", "username": "x", "password": "y"})
    assert token.status_code == 503 and "AUTH_SIGNING_KEY_FILE" in token.json()["error_description"]
    keys = await keyless.get("/.well-known/jwks.json")
    assert keys.status_code == 503 and "AUTH_SIGNING_KEY_FILE" in keys.json()["detail"]
    page = await keyless.get("/login")
    assert page.status_code == 503 and "chưa được cấu hình" in page.text
    assert 'name="password"' not in page.text


# ---------------------------------------------------------------- the login page


def set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        cookies.update(dict.fromkeys(cookie, cookie))
    return cookies


async def test_the_login_form_is_vietnamese_by_default_english_on_request_and_labelled(service):
    async with client_from(service, "10.0.7.1") as client:
        vi = await client.get("/login", params={"next": "/somewhere"})
        en = await client.get("/login", params={"lang": "en"})
    assert vi.status_code == 200 and '<html lang="vi">' in vi.text
    assert "Tên đăng nhập" in vi.text and "Mật khẩu" in vi.text
    assert '<label for="login">' in vi.text and 'id="login"' in vi.text
    assert '<label for="password">' in vi.text and 'type="password"' in vi.text
    assert 'name="next" value="/somewhere"' in vi.text
    assert vi.headers["x-frame-options"] == "DENY" and vi.headers["cache-control"] == "no-store"
    csrf = set_cookies(vi)[CSRF_COOKIE][CSRF_COOKIE]
    assert f'name="csrf" value="{csrf.value}"' in vi.text and len(csrf.value) >= 32
    assert not csrf["httponly"]  # the pages read it
    assert '<html lang="en">' in en.text and "Password" in en.text and "Mật khẩu" not in en.text


async def test_logging_in_sets_the_session_and_a_new_csrf_cookie_and_goes_to_next(service, tmp_path):
    async with client_from(service, "10.0.8.1") as client:
        form = await client.get("/login")
        first_csrf = form.cookies[CSRF_COOKIE]
        answer = await client.post(
            "/login",
            data={"login": "le.van.an", "password": PASSWORD, "csrf": first_csrf, "next": "/v1/x?y=1"},
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/v1/x?y=1"
        cookies = set_cookies(answer)
        session = cookies[SESSION_COOKIE][SESSION_COOKIE]
        assert session["httponly"] and session["samesite"].lower() == "lax" and session["path"] == "/"
        assert not session["secure"]  # served over http here
        csrf = cookies[CSRF_COOKIE][CSRF_COOKIE]
        assert not csrf["httponly"] and csrf.value != first_csrf
        verifier = await served_verifier(client, tmp_path)
        assert verifier.verify(session.value).name == "Lê Văn An"
        again = await client.get("/login")  # the session is recognised
        assert "Lê Văn An" in again.text and 'action="/logout"' in again.text


async def test_over_https_the_cookies_are_secure(service):
    async with client_from(service, "10.0.8.2", base_url="https://intake") as client:
        form = await client.get("/login")
        answer = await client.post(
            "/login", data={"login": "thu.ky", "password": PASSWORD, "csrf": form.cookies[CSRF_COOKIE]}
        )
    assert answer.status_code == 303
    cookies = set_cookies(answer)
    assert cookies[SESSION_COOKIE][SESSION_COOKIE]["secure"] and cookies[CSRF_COOKIE][CSRF_COOKIE]["secure"]
    assert answer.headers["location"] == f"{AGGREGATOR}/board"  # INTAKE_LOGIN_HOME without a next


@pytest.mark.parametrize(
    "login, password",
    [("le.van.an", "sai-mat-khau-roi"), ("khong.co.ai", PASSWORD), ("da.nghi", PASSWORD)],
    ids=["wrong-password", "unknown-login", "disabled"],
)
async def test_a_refused_login_shows_the_form_again_with_the_same_vietnamese_error(service, login, password):
    async with client_from(service, "10.0.9.1") as client:
        form = await client.get("/login")
        answer = await client.post(
            "/login",
            data={"login": login, "password": password, "csrf": form.cookies[CSRF_COOKIE], "next": "/a"},
        )
    assert answer.status_code == 401
    assert f'<p class="error" role="alert" id="login-error">{FAILED_VI}</p>' in answer.text
    assert f'value="{login}"' in answer.text and 'name="next" value="/a"' in answer.text
    assert SESSION_COOKIE not in set_cookies(answer)


async def test_a_login_without_the_csrf_cookie_and_field_is_refused(service):
    async with client_from(service, "10.0.9.2") as client:
        no_cookie = await client.post(
            "/login", data={"login": "thu.ky", "password": PASSWORD, "csrf": "x" * 43}
        )
        form = await client.get("/login")
        wrong_field = await client.post(
            "/login", data={"login": "thu.ky", "password": PASSWORD, "csrf": "y" * 43}
        )
        assert form.status_code == 200 and client.cookies[CSRF_COOKIE]  # the browser holds one now
    for answer in (no_cookie, wrong_field):
        assert answer.status_code == 403 and "hết hiệu lực" in answer.text
        assert SESSION_COOKIE not in set_cookies(answer)


@pytest.mark.parametrize(
    "target, goes_to",
    [
        ("/board?period=2024", "/board?period=2024"),
        (f"{AGGREGATOR}/agencies/CA-TINH", f"{AGGREGATOR}/agencies/CA-TINH"),
        ("https://evil.example/board", f"{AGGREGATOR}/board"),
        ("//evil.example/board", f"{AGGREGATOR}/board"),
        ("/\\evil.example", f"{AGGREGATOR}/board"),
        ("javascript:alert(1)", f"{AGGREGATOR}/board"),
        (f"http://user@{AGGREGATOR[7:]}/board", f"{AGGREGATOR}/board"),
        ("http://127.0.0.1:8082.evil.example/", f"{AGGREGATOR}/board"),
    ],
)
async def test_login_redirects_only_to_a_relative_path_or_a_listed_origin(service, target, goes_to):
    async with client_from(service, "10.0.10.1") as client:
        form = await client.get("/login")
        answer = await client.post(
            "/login",
            data={"login": "thu.ky", "password": PASSWORD, "csrf": form.cookies[CSRF_COOKIE], "next": target},
        )
    assert answer.status_code == 303 and answer.headers["location"] == goes_to


def test_safe_next_is_a_pure_rule():
    allowed = frozenset({"http://127.0.0.1:8082"})
    assert safe_next("/x", allowed) == "/x"
    assert safe_next("http://127.0.0.1:8082/x", allowed) == "http://127.0.0.1:8082/x"
    for bad in ("", None, "x", "//x", "/\\x", "ftp://127.0.0.1:8082/", "http://127.0.0.1:8083/", "/a\nb"):
        assert safe_next(bad, allowed) is None, bad


async def test_logout_needs_the_csrf_token_and_clears_both_cookies(service):
    async with client_from(service, "10.0.11.1") as client:
        form = await client.get("/login")
        await client.post(
            "/login", data={"login": "thu.ky", "password": PASSWORD, "csrf": form.cookies[CSRF_COOKIE]}
        )
        csrf = client.cookies[CSRF_COOKIE]
        forged = await client.post("/logout", data={"csrf": "z" * 43})
        assert forged.status_code == 403
        assert set_cookies(forged).get(SESSION_COOKIE) is None  # nothing cleared
        assert "Thư ký Ban Chỉ đạo" in (await client.get("/login")).text  # still logged in
        done = await client.post("/logout", data={"csrf": csrf})
        assert done.status_code == 303 and done.headers["location"].startswith("/login?lang=vi")
        cleared = set_cookies(done)
        for name in (SESSION_COOKIE, CSRF_COOKIE):
            assert cleared[name][name]["max-age"] == "0" and cleared[name][name].value in ("", '""')
        after = await client.get(done.headers["location"])
        assert "Đồng chí đã đăng xuất." in after.text and 'name="password"' in after.text


async def test_logout_by_header_for_pages_that_send_it_with_fetch(service):
    async with client_from(service, "10.0.11.2") as client:
        form = await client.get("/login")
        await client.post(
            "/login", data={"login": "thu.ky", "password": PASSWORD, "csrf": form.cookies[CSRF_COOKIE]}
        )
        done = await client.post("/logout", headers={"X-CSRF-Token": client.cookies[CSRF_COOKIE]})
    assert done.status_code == 303
