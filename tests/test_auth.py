"""Register, log in, tokens, roles."""

import time

from ticketd.auth import TokenSigner, hash_password, verify_password

from helpers import TEST_SECRET, USER_PASSWORD


async def test_register_login_me(api):
    status, body = await api.call("POST", "/api/auth/register",
                                  json={"email": "Ann@Example.com", "password": USER_PASSWORD, "name": "Ann"})
    assert status == 201
    assert body["user"] == {"id": body["user"]["id"], "email": "Ann@Example.com", "name": "Ann", "role": "user"}
    assert isinstance(body["user"]["id"], str)
    _, login = await api.call("POST", "/api/auth/login", expect=200,
                              json={"email": "ann@example.com", "password": USER_PASSWORD})
    _, me = await api.call("GET", "/api/me", login["token"], expect=200)
    assert me["user"]["email"] == "Ann@Example.com" and me["user"]["role"] == "user"


async def test_duplicate_email_is_409(api):
    body = {"email": "dup@example.com", "password": USER_PASSWORD, "name": "D"}
    await api.call("POST", "/api/auth/register", expect=201, json=body)
    status, err = await api.call("POST", "/api/auth/register", json={**body, "email": "DUP@example.com"})
    assert status == 409 and err["error"]["code"] == "email_taken"


async def test_bad_credentials_are_401(api):
    await api.register("bob")
    status, err = await api.call("POST", "/api/auth/login", json={"email": "nobody@example.com",
                                                                  "password": "whatever-1"})
    assert status == 401 and err["error"]["code"] == "unauthorized"


async def test_me_requires_valid_token(api):
    assert (await api.call("GET", "/api/me"))[0] == 401
    assert (await api.call("GET", "/api/me", "garbage"))[0] == 401
    token = await api.register()
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    status, err = await api.call("GET", "/api/me", forged)
    assert status == 401 and err["error"]["code"] == "unauthorized"


async def test_expired_token_is_rejected(api):
    token = await api.register()
    _, me = await api.call("GET", "/api/me", token, expect=200)
    expired = TokenSigner(TEST_SECRET, -1).issue(me["user"]["id"], "user")
    status, err = await api.call("GET", "/api/me", expired)
    assert status == 401 and "expired" in err["error"]["message"].lower()


async def test_validation_names_fields(api):
    status, err = await api.call("POST", "/api/auth/register", json={"email": "nope", "password": "x"})
    assert status == 400 and err["error"]["code"] == "validation_error"
    assert set(err["error"]["details"]) == {"email", "password", "name"}


def test_passwords_are_scrypt_hashed():
    encoded = hash_password("correct horse")
    assert encoded.startswith("scrypt$") and "correct horse" not in encoded
    assert verify_password("correct horse", encoded)
    assert not verify_password("wrong horse", encoded)
    assert hash_password("correct horse") != encoded  # salted


def test_token_signer_roundtrip():
    signer = TokenSigner("s", 60)
    who = signer.verify(signer.issue(7, "admin"))
    assert who.user_id == 7 and who.is_admin
    assert int(time.time()) < 10**10
