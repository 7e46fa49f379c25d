"""shared.auth: scope by the plan's hierarchy, JWT verification, and the FastAPI dependencies."""

from __future__ import annotations

import base64
import json
import time

import pytest
from fastapi import FastAPI, Form
from fastapi.testclient import TestClient
from joserfc import jwt

from shared.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AuthSettings,
    CurrentPrincipal,
    InvalidCredentials,
    PagePrincipal,
    Principal,
    Role,
    TokenIssuer,
    install_auth,
    require,
)
from shared.auth.tokens import ClaimNames, KeySource, TokenVerifier, generate_signing_key, load_signing_key
from shared.plan.loader import load_plan
from shared.settings import DEFAULT_PLAN

PLAN = load_plan(DEFAULT_PLAN)


def test_a_leader_sees_their_agency_and_the_agencies_below_it_only():
    police = Principal("u1", "Lãnh đạo Công an tỉnh", Role.LEADER, "CA-TINH")
    assert police.may_read_agency("CA-TINH", PLAN)
    assert police.may_read_agency("CA-HUONG-HOA", PLAN)  # escalates to CA-TINH
    assert not police.may_read_agency("BCD138", PLAN)  # above it
    district = Principal("u2", "Lãnh đạo Công an huyện", Role.LEADER, "CA-HUONG-HOA")
    assert not district.may_read_agency("CA-DAKRONG", PLAN)  # a sibling
    assert not district.may_read_agency("NO-SUCH-AGENCY", PLAN)
    committee = Principal("u3", "Ban Chỉ đạo", Role.LEADER, "BCD138")
    assert committee.may_read_agency("CA-DAKRONG", PLAN)


def test_an_agency_system_reads_its_own_agency_and_operators_never_see_notes():
    system = Principal("s1", "CA-HUONG-HOA system", Role.AGENCY_SYSTEM, "CA-HUONG-HOA")
    assert system.may_read_agency("CA-HUONG-HOA", PLAN)
    assert not system.may_read_agency("CA-TINH", PLAN)
    operator = Principal("o1", "Trực ban", Role.OPERATOR)
    assert operator.may_read_agency("CA-TINH", PLAN)
    assert not operator.sees_notes("CA-TINH", PLAN)
    assert Principal("c1", "Thư ký", Role.COMMITTEE).sees_notes("CA-TINH", PLAN)
    with pytest.raises(ValueError, match="needs an agency"):
        Principal("l", "x", Role.LEADER)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return generate_signing_key(tmp_path_factory.mktemp("keys"))


def _verifier(public, **kwargs):
    return TokenVerifier(KeySource(jwks_file=public), **kwargs)


def test_a_token_round_trips_and_every_forgery_is_refused(keys, tmp_path):
    private, public = keys
    issuer = TokenIssuer(load_signing_key(private))
    leader = Principal("u1", "Lê Văn An", Role.LEADER, "CA-TINH")
    assert _verifier(public).verify(issuer.issue(leader)) == leader

    other_private, _ = generate_signing_key(tmp_path / "other")
    forged = TokenIssuer(load_signing_key(other_private)).issue(leader)
    with pytest.raises(InvalidCredentials):
        _verifier(public).verify(forged)
    with pytest.raises(InvalidCredentials, match="iss"):
        _verifier(public, issuer="keycloak").verify(issuer.issue(leader))
    with pytest.raises(InvalidCredentials, match="aud"):
        _verifier(public, audience="someone-else").verify(issuer.issue(leader))
    expired = TokenIssuer(load_signing_key(private), lifetime_seconds=-120).issue(leader)
    with pytest.raises(InvalidCredentials, match=r"expired|exp"):
        _verifier(public).verify(expired)
    with pytest.raises(InvalidCredentials, match="not a JWT"):
        _verifier(public).verify("tdo_abc_def")
    token = issuer.issue(leader)
    head, body, signature = token.split(".")
    with pytest.raises(InvalidCredentials):
        _verifier(public).verify(f"{head}.{body}.{signature[:-4]}AAAA")


def test_an_unsigned_token_is_refused(keys):
    _, public = keys
    claims = {"iss": "tiendo-local", "aud": "tiendo", "sub": "x", "exp": int(time.time()) + 60}

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none'})}.{b64({**claims, 'tiendo_role': 'committee'})}."
    with pytest.raises(InvalidCredentials):
        _verifier(public).verify(unsigned)


def test_roles_from_a_keycloak_style_claim(keys):
    private, public = keys
    key = load_signing_key(private)
    claims = {
        "iss": "https://sso.quangtri.gov.vn/realms/tiendo",
        "aud": "tiendo",
        "sub": "9f1c",
        "exp": int(time.time()) + 60,
        "preferred_username": "nguyen.van.b",
        "realm_access": {"roles": ["offline_access", "leader"]},
        "agency": "CA-HUONG-HOA",
    }
    token = jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)
    verifier = _verifier(
        public,
        issuer="https://sso.quangtri.gov.vn/realms/tiendo",
        claims=ClaimNames(role="realm_access.roles", agency="agency"),
    )
    assert verifier.verify(token) == Principal("9f1c", "nguyen.van.b", Role.LEADER, "CA-HUONG-HOA")
    no_role = jwt.encode({"alg": "ES256", "kid": key.kid}, {**claims, "realm_access": {"roles": []}}, key)
    with pytest.raises(InvalidCredentials, match="no Tiendo role"):
        verifier.verify(no_role)


@pytest.fixture()
def client(keys):
    private, public = keys
    app = FastAPI()
    install_auth(app, AuthSettings(jwks_file=public, login_url="/login"))

    @app.get("/mine")
    async def mine(principal: CurrentPrincipal) -> dict:
        return {"name": principal.name, "role": principal.role}

    @app.post("/silences", dependencies=[require(Role.COMMITTEE, Role.OPERATOR)])
    async def silence(principal: CurrentPrincipal, reason: str = Form()) -> dict:
        return {"by": principal.name, "reason": reason}

    @app.get("/board")
    async def board(principal: PagePrincipal) -> dict:
        return {"hello": principal.name}

    issuer = TokenIssuer(load_signing_key(private))
    with TestClient(app, follow_redirects=False) as test_client:
        test_client.issue = issuer.issue  # type: ignore[attr-defined]
        yield test_client


def test_the_dependencies_answer_401_403_and_redirect(client):
    assert client.get("/mine").status_code == 401
    assert client.get("/mine").headers["www-authenticate"].startswith("Bearer")
    assert client.get("/mine", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/mine", headers={"Authorization": "Bearer garbage"}).status_code == 401
    leader = client.issue(Principal("u1", "Lê Văn An", Role.LEADER, "CA-TINH"))
    answer = client.get("/mine", headers={"Authorization": f"Bearer {leader}"})
    assert answer.status_code == 200 and answer.json() == {"name": "Lê Văn An", "role": "leader"}
    refused = client.post("/silences", data={"reason": "x"}, headers={"Authorization": f"Bearer {leader}"})
    assert refused.status_code == 403
    operator = client.issue(Principal("o1", "Trực ban", Role.OPERATOR))
    done = client.post(
        "/silences", data={"reason": "bảo trì"}, headers={"Authorization": f"Bearer {operator}"}
    )
    assert done.status_code == 200 and done.json() == {"by": "Trực ban", "reason": "bảo trì"}
    page = client.get("/board")
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")


def test_a_session_cookie_needs_the_csrf_token_to_change_anything(client):
    operator = client.issue(Principal("o1", "Trực ban", Role.OPERATOR))
    client.cookies.set(SESSION_COOKIE, operator)
    client.cookies.set(CSRF_COOKIE, "c" * 32)
    assert client.get("/board").json() == {"hello": "Trực ban"}
    assert client.post("/silences", data={"reason": "x"}).status_code == 403
    assert client.post("/silences", data={"reason": "x", "csrf": "d" * 32}).status_code == 403
    assert client.post("/silences", data={"reason": "x", "csrf": "c" * 32}).status_code == 200
    assert (
        client.post("/silences", data={"reason": "x"}, headers={"X-CSRF-Token": "c" * 32}).status_code == 200
    )


def test_a_service_without_an_issuer_is_closed():
    app = FastAPI()
    install_auth(app, AuthSettings(jwks_file=None, jwks_url=None))

    @app.get("/mine")
    async def mine(principal: CurrentPrincipal) -> str:
        return principal.name

    with TestClient(app) as test_client:
        assert test_client.get("/mine").status_code == 401
        answer = test_client.get("/mine", headers={"Authorization": "Bearer a.b.c"})
        assert answer.status_code == 401 and "not configured" in answer.json()["detail"]
