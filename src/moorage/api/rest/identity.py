"""/projects, their members, /users, /users/me and its access keys, and /session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response

from moorage.api.rest.deps import Paging, Services, page_of
from moorage.api.rest.problems import ApiError
from moorage.api.rest.routing import api_router
from moorage.api.rest.schemas import (
    AccessKeyCreated,
    AccessKeyOut,
    AccessKeyUpdate,
    MemberOut,
    MemberSet,
    MembershipOut,
    MeOut,
    PageOut,
    PasswordChange,
    PasswordReset,
    ProjectCreate,
    ProjectOut,
    SessionCreate,
    SessionOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from moorage.api.rest.security import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    Caller,
    Security,
    Session,
)
from moorage.domain.identity.access import Action, deployment_permissions, may_manage_members
from moorage.domain.kernel.model import AccessKey, Member, Project, User

router = api_router()
ROTATION_DAYS = 90
PROJECT_SORTS: dict[str, Callable[[Project], Any]] = {
    "name": lambda p: p.name,
    "created_at": lambda p: p.created_at,
}
MEMBER_SORTS: dict[str, Callable[[Member], Any]] = {
    "username": lambda m: m.username,
    "role": lambda m: m.role.value,
    "created_at": lambda m: m.created_at,
}
USER_SORTS: dict[str, Callable[[User], Any]] = {
    "username": lambda u: u.username,
    "created_at": lambda u: u.created_at,
}
KEY_SORTS: dict[str, Callable[[AccessKey], Any]] = {
    "created_at": lambda k: k.created_at,
    "key_id": lambda k: k.key_id,
    "last_used_at": lambda k: k.last_used_at or datetime.min.replace(tzinfo=UTC),
}


# projects and members -------------------------------------------------------------------


@router.get(
    "/projects", name="list_projects", tags=["projects"], response_model=PageOut[ProjectOut]
)
def list_projects(services: Services, caller: Caller, paging: Paging) -> PageOut[ProjectOut]:
    """Every project for an administrator; the caller's own projects otherwise."""
    projects = services.identities.list_projects()
    if not caller.is_admin:
        mine = {p for p, _ in services.identities.memberships(caller)}
        projects = [p for p in projects if p.name in mine]
    shown, total = page_of(projects, paging, PROJECT_SORTS, lambda p: p.name)
    items = [ProjectOut(name=p.name, created_at=p.created_at) for p in shown]
    return PageOut(items=items, total=total, page=paging.page, page_size=paging.page_size)


@router.post(
    "/projects",
    name="create_project",
    tags=["projects"],
    status_code=201,
    response_model=ProjectOut,
)
def create_project(
    body: ProjectCreate, services: Services, security: Security, caller: Caller
) -> ProjectOut:
    """Projects own registries and members; only a system administrator creates them."""
    security.require_admin(caller)
    project = services.identities.create_project(body.name)
    return ProjectOut(name=project.name, created_at=project.created_at)


def _require_project_admin(services: Services, caller: Caller, project: str) -> None:
    if caller.is_admin:
        services.identities.list_members(project)  # 404 if missing
        return
    role = services.identities.role_in_project(caller, project)
    if not may_manage_members(caller, role):
        raise ApiError(403, "forbidden", "only a Project Admin manages members")


@router.get(
    "/projects/{project}/members",
    name="list_members",
    tags=["projects"],
    response_model=PageOut[MemberOut],
)
def list_members(
    project: str, services: Services, security: Security, caller: Caller, paging: Paging
) -> PageOut[MemberOut]:
    security.require_in_project(caller, project, Action.PULL)
    members = services.identities.list_members(project)
    shown, total = page_of(members, paging, MEMBER_SORTS, lambda m: m.username)
    items = [MemberOut(username=m.username, role=m.role, created_at=m.created_at) for m in shown]
    return PageOut(items=items, total=total, page=paging.page, page_size=paging.page_size)


@router.put(
    "/projects/{project}/members/{username}",
    name="set_member",
    tags=["projects"],
    response_model=MemberOut,
)
def set_member(
    project: str, username: str, body: MemberSet, services: Services, caller: Caller
) -> MemberOut:
    """Add a member or change their role."""
    _require_project_admin(services, caller, project)
    services.identities.set_member(project, username, body.role)
    members = services.identities.list_members(project)
    member = next(m for m in members if m.username == username)
    return MemberOut(username=member.username, role=member.role, created_at=member.created_at)


@router.delete(
    "/projects/{project}/members/{username}",
    name="remove_member",
    tags=["projects"],
    status_code=204,
)
def remove_member(project: str, username: str, services: Services, caller: Caller) -> Response:
    _require_project_admin(services, caller, project)
    services.identities.remove_member(project, username)
    return Response(status_code=204)


# users ----------------------------------------------------------------------------------


def _user(user: object) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


@router.get("/users", name="list_users", tags=["users"], response_model=PageOut[UserOut])
def list_users(
    services: Services, security: Security, caller: Caller, paging: Paging
) -> PageOut[UserOut]:
    security.require_admin(caller)
    users = services.identities.list_users()
    shown, total = page_of(users, paging, USER_SORTS, lambda u: u.username)
    items = [_user(u) for u in shown]
    return PageOut(items=items, total=total, page=paging.page, page_size=paging.page_size)


@router.post("/users", name="create_user", tags=["users"], status_code=201, response_model=UserOut)
def create_user(
    body: UserCreate, services: Services, security: Security, caller: Caller
) -> UserOut:
    security.require_admin(caller)
    user = services.identities.create_user(body.username, body.password, is_admin=body.is_admin)
    return _user(user)


@router.delete("/users/{username}", name="delete_user", tags=["users"], status_code=204)
def delete_user(username: str, services: Services, security: Security, caller: Caller) -> Response:
    security.require_admin(caller)
    services.identities.delete_user(username)
    return Response(status_code=204)


@router.patch("/users/{username}", name="update_user", tags=["users"], response_model=UserOut)
def update_user(
    username: str, body: UserUpdate, services: Services, security: Security, caller: Caller
) -> UserOut:
    """Disable a user or enable them again. A disabled user keeps their memberships and
    access keys, but cannot sign in, and their console sessions, tokens and keys stop
    working at once. Nobody disables themselves, nor the last enabled administrator."""
    security.require_admin(caller)
    return _user(services.identities.set_disabled(username, body.disabled, acting=caller.username))


@router.get("/users/me", name="get_me", tags=["users"], response_model=MeOut)
def get_me(services: Services, caller: Caller) -> MeOut:
    memberships = services.identities.memberships(caller)
    return MeOut(
        username=caller.username,
        is_admin=caller.is_admin,
        projects=[MembershipOut(project=p, role=r) for p, r in memberships],
        permissions=deployment_permissions(caller, (r for _, r in memberships)),
        region=services.region,
    )


@router.put("/users/me/password", name="change_my_password", tags=["users"], status_code=204)
async def change_my_password(
    body: PasswordChange,
    request: Request,
    services: Services,
    security: Security,
    caller: Caller,
) -> Response:
    """Change your password. Every console session and bearer token you hold ends; a
    console caller gets a new session cookie (its CSRF token unchanged) in this response."""
    if (
        security.sign_in is None
        or await security.check_password(request, caller.username, body.current_password) is None
    ):
        raise ApiError(403, "forbidden", "the current password is wrong")
    user = await services.blocking.run(
        services.identities.set_password, caller.username, body.new_password
    )
    response = Response(status_code=204)
    ended = security.sessions.verify(request.cookies.get(SESSION_COOKIE, ""))
    if caller.session_id is not None and ended is not None:
        renewed = replace(caller, generation=user.auth_generation)
        cookie, _ = await security.open_session(renewed, ended.csrf_token)
        _set_session_cookie(request, response, cookie)
    return response


# Declared after /users/me/password, which it would otherwise take for a user named "me".
@router.put("/users/{username}/password", name="reset_password", tags=["users"], status_code=204)
def reset_password(
    username: str, body: PasswordReset, services: Services, security: Security, caller: Caller
) -> Response:
    """A system administrator sets a user's password (a forgotten one): the user's console
    sessions and bearer tokens end; their access keys keep working."""
    security.require_admin(caller)
    services.identities.set_password(username, body.new_password)
    return Response(status_code=204)


# access keys ----------------------------------------------------------------------------


def _key(key: AccessKey) -> AccessKeyOut:
    age = (datetime.now(UTC) - key.created_at).days
    return AccessKeyOut(
        key_id=key.key_id,
        enabled=key.enabled,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        age_days=age,
        rotation_due=age >= ROTATION_DAYS,
    )


@router.get(
    "/users/me/access-keys",
    name="list_my_access_keys",
    tags=["access keys"],
    response_model=PageOut[AccessKeyOut],
)
def list_my_access_keys(
    services: Services, caller: Caller, paging: Paging
) -> PageOut[AccessKeyOut]:
    keys = services.identities.list_access_keys(caller.username)
    shown, total = page_of(keys, paging, KEY_SORTS, lambda k: k.key_id)
    items = [_key(k) for k in shown]
    return PageOut(items=items, total=total, page=paging.page, page_size=paging.page_size)


@router.post(
    "/users/me/access-keys",
    name="create_my_access_key",
    tags=["access keys"],
    status_code=201,
    response_model=AccessKeyCreated,
)
def create_my_access_key(services: Services, caller: Caller) -> AccessKeyCreated:
    """A new key pair (at most five). The secret is in this response only."""
    new = services.identities.create_access_key(caller.username)
    return AccessKeyCreated(**_key(new.key).model_dump(), secret=new.secret)


@router.patch(
    "/users/me/access-keys/{key_id}",
    name="update_my_access_key",
    tags=["access keys"],
    response_model=AccessKeyOut,
)
def update_my_access_key(
    key_id: str, body: AccessKeyUpdate, services: Services, caller: Caller
) -> AccessKeyOut:
    """Enable or disable a key; a disabled key stops working at once."""
    services.identities.set_access_key_enabled(key_id, body.enabled, caller.username)
    keys = services.identities.list_access_keys(caller.username)
    return _key(next(k for k in keys if k.key_id == key_id))


@router.delete(
    "/users/me/access-keys/{key_id}",
    name="delete_my_access_key",
    tags=["access keys"],
    status_code=204,
)
def delete_my_access_key(key_id: str, services: Services, caller: Caller) -> Response:
    services.identities.delete_access_key(key_id, caller.username)
    return Response(status_code=204)


# console sessions -----------------------------------------------------------------------


def _set_session_cookie(request: Request, response: Response, cookie: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def _session_out(session: Session) -> SessionOut:
    return SessionOut(
        username=session.identity.username,
        is_admin=session.identity.is_admin,
        csrf_token=session.csrf_token,
        expires_at=datetime.fromtimestamp(session.expires_at, UTC),
    )


@router.post(
    "/session", name="create_session", tags=["session"], status_code=201, response_model=SessionOut
)
async def create_session(
    body: SessionCreate, request: Request, response: Response, security: Security
) -> SessionOut:
    """Sign in to the console: sets an HttpOnly, SameSite=Strict session cookie and returns
    the CSRF token to send as `X-CSRF-Token` on every change. Repeated failures are
    refused for a while with 429 and Retry-After."""
    if security.sign_in is None:
        raise ApiError(400, "auth-disabled", "authentication is off on this server")
    identity = await security.check_password(request, body.username, body.password)
    if identity is None:
        raise ApiError(401, "unauthenticated", "wrong user name or password")
    await security.sign_in.record(request, body.username, 200)
    cookie, session = await security.open_session(identity)
    _set_session_cookie(request, response, cookie)
    return _session_out(session)


@router.get("/session", name="get_session", tags=["session"], response_model=SessionOut)
def get_session(request: Request, security: Security) -> SessionOut:
    """The current console session and its CSRF token (for a new browser tab). SameSite
    cookies and the same-origin policy keep other sites from reading it."""
    cookie = request.cookies.get(SESSION_COOKIE)
    session = security.sessions.verify(cookie) if cookie else None
    if session is None or not security.identities.still_valid(session.identity):
        raise ApiError(401, "unauthenticated", "no console session")
    return _session_out(session)


@router.delete("/session", name="delete_session", tags=["session"], status_code=204)
def delete_session(request: Request, services: Services, security: Security) -> Response:
    """Sign out: this console session ends on every node (the cookie alone no longer
    works); the user's other sessions go on."""
    cookie = request.cookies.get(SESSION_COOKIE)
    session = security.sessions.verify(cookie) if cookie else None
    if session is not None and session.identity.session_id is not None:
        services.identities.end_session(session.identity.session_id)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.delete("/users/me/sessions", name="sign_out_everywhere", tags=["session"], status_code=204)
def sign_out_everywhere(services: Services, security: Security, caller: Caller) -> Response:
    """Sign out everywhere: every console session and bearer token of yours ends (access
    keys keep working)."""
    if security.sign_in is None:
        raise ApiError(400, "auth-disabled", "authentication is off on this server")
    services.identities.end_all_sessions(caller.username)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
