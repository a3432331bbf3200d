"""Register, log in, who am I."""

from aiohttp import web

from .. import appkeys, auth, errors
from . import schemas
from .http import client_address, json_response, parse_body, require_user

routes = web.RouteTableDef()


def _token_response(request: web.Request, user: dict, status: int) -> web.Response:
    token = request.app[appkeys.signer].issue(user["id"], user["role"])
    return json_response({"token": token, "user": auth.user_view(user)}, status=status)


@routes.post("/api/auth/register")
async def register(request: web.Request) -> web.Response:
    """Create an account.
    ---
    summary: Register
    tags: [auth]
    requestBody: {required: true, content: {application/json: {schema: RegisterRequest}}}
    responses:
      201: {description: Registered, content: {application/json: {schema: TokenResponse}}}
      400: ValidationError
      409: Conflict
      429: RateLimited
    """
    body = await parse_body(request, schemas.RegisterRequest())
    await request.app[appkeys.rate_limiter].hit("registrations_per_address", client_address(request))
    user = await auth.register(request.app[appkeys.db], body["email"], body["password"], body["name"])
    return _token_response(request, user, 201)


@routes.post("/api/auth/login")
async def login(request: web.Request) -> web.Response:
    """Exchange email and password for a bearer token.
    ---
    summary: Log in
    tags: [auth]
    requestBody: {required: true, content: {application/json: {schema: LoginRequest}}}
    responses:
      200: {description: Logged in, content: {application/json: {schema: TokenResponse}}}
      400: ValidationError
      401: Unauthorized
      429: RateLimited
    """
    body = await parse_body(request, schemas.LoginRequest())
    throttle = request.app[appkeys.login_throttle]
    address = client_address(request)
    await throttle.before(body["email"], address)
    try:
        user = await auth.login(request.app[appkeys.db], body["email"], body["password"])
    except errors.Unauthorized:
        await throttle.failed(body["email"], address)
        raise
    await throttle.succeeded(body["email"], address)
    return _token_response(request, user, 200)


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    """The authenticated user.
    ---
    summary: Current user
    tags: [auth]
    security: [{bearer: []}]
    responses:
      200: {description: The user, content: {application/json: {schema: MeResponse}}}
      401: Unauthorized
    """
    who = require_user(request)
    user = await auth.get_user(request.app[appkeys.db], who.user_id)
    return json_response({"user": auth.user_view(user)})
