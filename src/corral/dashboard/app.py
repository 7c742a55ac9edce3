"""The Starlette application: routes, login, CSRF, roles, the live stream.

Each page handler is thin: it checks who is asking, reads through
:class:`~corral.dashboard.queries.Dashboard` (blocking database reads run in
the thread pool) and renders a Jinja2 template with autoescaping on, so
everything a plugin controls (its name, description, error messages, audit
details, finding text) reaches the page as text, never as markup.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from corral.audit import AuditEvent
from corral.dashboard.accounts import Accounts, Admin
from corral.dashboard.actions import VERBS, act
from corral.dashboard.queries import AuditFilter, Dashboard
from corral.dashboard.security import (
    COOKIE,
    HEADERS,
    SESSION_SECONDS,
    LoginThrottle,
    Session,
    Signer,
    csrf_ok,
)
from corral.errors import CorralError

HERE = Path(__file__).parent
ACTIONS = (*VERBS, "approve", "refuse")
STREAM_POLL_SECONDS = 0.5
STREAM_MAX_SECONDS = 600.0
_EXPORT_PAGE = 1000

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGI = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


class SecurityHeaders:
    """Adds the CSP and the other hardening headers to every HTTP response, static ones too."""

    def __init__(self, app: ASGI) -> None:
        self.app = app

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for name, value in HEADERS.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _when(t: float | None) -> str:
    if not t:
        return ""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _moment(text: str | None) -> float | None:
    """A datetime-local or ISO value (UTC) as epoch seconds; empty or unreadable is None."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _cursor(text: str | None) -> tuple[float, str] | None:
    if not text or "~" not in text:
        return None
    when, _, ident = text.partition("~")
    try:
        return float(when), ident
    except ValueError:
        return None


def _summary(event: AuditEvent) -> str:
    """A one-line digest of an event's details for tables and the live feed."""
    text = json.dumps(event.details, sort_keys=True, default=str)
    return text if len(text) <= 300 else text[:297] + "..."


def _live(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "time": _when(event.time),
        "kind": event.kind,
        "plugin": event.plugin,
        "decision": event.decision,
        "summary": _summary(event),
    }


def create_app(
    home: str | os.PathLike[str],
    *,
    audit: str | None = None,
    secure_cookies: bool = False,
    throttle: LoginThrottle | None = None,
) -> Starlette:
    """The dashboard for one home. ``secure_cookies`` adds ``Secure`` (behind HTTPS)."""
    dash = Dashboard(home, audit)
    accounts = Accounts(dash.admin.home.db)
    signer = Signer()
    limiter = throttle or LoginThrottle()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = _when
    env.filters["summary"] = _summary
    templates = Jinja2Templates(env=env)

    def session_of(request: Request) -> Session | None:
        return signer.load(request.cookies.get(COOKIE))

    def admin_of(session: Session | None) -> Admin | None:
        return accounts.get(session.name) if session and session.name else None

    def set_cookie(response: Response, cookie: str) -> None:
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=secure_cookies,
            path="/",
        )

    def render(
        request: Request, name: str, session: Session, admin: Admin | None, **context: Any
    ) -> Response:
        context.update(csrf=session.csrf, admin=admin, flash=request.query_params.get("msg", ""))
        return templates.TemplateResponse(request, name, context)

    async def page(
        request: Request, build: Callable[[Session, Admin], Awaitable[Response]]
    ) -> Response:
        session = session_of(request)
        admin = await run_in_threadpool(admin_of, session)
        if session is None or admin is None:
            return RedirectResponse("/login", status_code=303)
        try:
            return await build(session, admin)
        except CorralError as exc:
            return PlainTextResponse(str(exc).splitlines()[0], status_code=404)

    async def login_form(request: Request) -> Response:
        session = session_of(request)
        cookie = None
        if session is None:
            session, cookie = signer.new()
        response = render(request, "login.html", session, None, error="")
        if cookie:
            set_cookie(response, cookie)
        return response

    async def login(request: Request) -> Response:
        session = session_of(request)
        form = await request.form()
        if not csrf_ok(session, form.get("csrf")):
            return PlainTextResponse("refused: missing or wrong CSRF token", status_code=403)
        assert session is not None
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        client = request.client.host if request.client else "?"
        wait = limiter.retry_after(client, name)
        if wait > 0:
            response = render(
                request,
                "login.html",
                session,
                None,
                error=f"too many failed logins: try again in {int(wait) + 1} s",
            )
            response.status_code = 429
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        admin = await run_in_threadpool(accounts.authenticate, name, password)
        if admin is None:
            limiter.failed(client, name)
            response = render(request, "login.html", session, None, error="wrong name or password")
            response.status_code = 401
            return response
        limiter.succeeded(client, name)
        _, cookie = signer.new(admin.name)
        response = RedirectResponse("/", status_code=303)
        set_cookie(response, cookie)
        return response

    async def logout(request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(session_of(request), form.get("csrf")):
            return PlainTextResponse("refused: missing or wrong CSRF token", status_code=403)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def overview(request: Request) -> Response:
        async def build(session: Session, admin: Admin) -> Response:
            rows = await run_in_threadpool(dash.overview)
            return render(request, "overview.html", session, admin, rows=rows, page="overview")

        return await page(request, build)

    async def plugin(request: Request) -> Response:
        async def build(session: Session, admin: Admin) -> Response:
            data = await run_in_threadpool(dash.plugin, request.path_params["name"])
            return render(
                request, "plugin.html", session, admin, p=data, page="plugin", actions=ACTIONS
            )

        return await page(request, build)

    def filters_of(request: Request) -> AuditFilter:
        q = request.query_params
        return AuditFilter(
            plugin=q.get("plugin") or None,
            kind=q.get("kind") or None,
            decision=q.get("decision") or None,
            since=_moment(q.get("since")),
            until=_moment(q.get("until")),
        )

    async def audit_log(request: Request) -> Response:
        async def build(session: Session, admin: Admin) -> Response:
            filters = filters_of(request)
            before = _cursor(request.query_params.get("before"))
            events, cursor = await run_in_threadpool(dash.audit_page, filters, before)
            keep = {k: v for k, v in request.query_params.items() if k != "before" and v}
            next_url = (
                "/audit?" + urlencode({**keep, "before": f"{cursor[0]!r}~{cursor[1]}"})
                if cursor
                else ""
            )
            export_url = "/audit/export.jsonl" + ("?" + urlencode(keep) if keep else "")
            return render(
                request,
                "audit.html",
                session,
                admin,
                events=events,
                next_url=next_url,
                export_url=export_url,
                q=request.query_params,
                page="audit",
                first=before is None,
            )

        return await page(request, build)

    async def verify(request: Request) -> Response:
        async def build(session: Session, admin: Admin) -> Response:
            reports = await run_in_threadpool(dash.verify)
            return render(request, "verify.html", session, admin, reports=reports, page="audit")

        return await page(request, build)

    async def export(request: Request) -> Response:
        async def build(session: Session, admin: Admin) -> Response:
            filters = filters_of(request)

            def lines() -> Iterator[bytes]:
                before: tuple[float, str] | None = None
                while True:
                    events, before = dash.audit_page(filters, before, _EXPORT_PAGE)
                    for event in events:
                        yield (json.dumps(event.to_dict(), sort_keys=True) + "\n").encode()
                    if before is None:
                        return

            return StreamingResponse(
                lines(),
                media_type="application/x-ndjson",
                headers={"Content-Disposition": 'attachment; filename="corral-audit.jsonl"'},
            )

        return await page(request, build)

    async def approvals(request: Request) -> Response:
        async def build(session: Session, admin: Admin) -> Response:
            waiting = await run_in_threadpool(dash.approvals)
            return render(
                request, "approvals.html", session, admin, waiting=waiting, page="approvals"
            )

        return await page(request, build)

    async def action(request: Request) -> Response:
        session = session_of(request)
        form = await request.form()
        if not csrf_ok(session, form.get("csrf")):
            return PlainTextResponse("refused: missing or wrong CSRF token", status_code=403)
        admin = await run_in_threadpool(admin_of, session)
        if admin is None:
            return PlainTextResponse("refused: log in first", status_code=403)
        if not admin.can_change:
            return PlainTextResponse(
                f"refused: {admin.name} has the read-only role and can change nothing",
                status_code=403,
            )
        name, verb = request.path_params["name"], request.path_params["verb"]
        if verb not in ACTIONS:
            return PlainTextResponse(f"unknown action {verb!r}", status_code=404)
        try:
            message = await run_in_threadpool(act, dash.root, admin.name, name, verb, audit)
        except CorralError as exc:
            message = f"error: {str(exc).splitlines()[0]}"
        back = str(form.get("back") or f"/plugins/{name}")
        if not back.startswith("/") or back.startswith("//") or "\\" in back:
            back = "/"
        sep = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{sep}{urlencode({'msg': message})}", status_code=303)

    async def stream(request: Request) -> Response:
        session = session_of(request)
        admin = await run_in_threadpool(admin_of, session)
        if admin is None:
            return PlainTextResponse("log in first", status_code=401)
        resume = _cursor(request.headers.get("last-event-id"))
        if resume is not None:
            start = resume[0]
        else:
            newest = await run_in_threadpool(dash.newest)
            start = newest.time if newest else 0.0
        seen_at_start = {resume[1]} if resume else set()
        if resume is None and newest is not None:
            seen_at_start = {newest.id}

        async def events() -> AsyncIterator[str]:
            cursor, seen, idle = start, seen_at_start, 0
            loop = asyncio.get_running_loop()
            ends = loop.time() + STREAM_MAX_SECONDS
            yield "retry: 2000\n\n"
            while loop.time() < ends and not await request.is_disconnected():
                found = await run_in_threadpool(dash.since, cursor)
                for event in found:
                    if event.id in seen:
                        continue
                    if event.time > cursor:
                        cursor, seen = event.time, set()
                    seen.add(event.id)
                    data = json.dumps(_live(event))
                    yield f"id: {event.time!r}~{event.id}\nevent: audit\ndata: {data}\n\n"
                idle = 0 if found else idle + 1
                if idle and idle % 30 == 0:
                    yield ": idle\n\n"
                await asyncio.sleep(STREAM_POLL_SECONDS)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
        )

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", overview, methods=["GET"]),
        Route("/plugins/{name}", plugin, methods=["GET"]),
        Route("/plugins/{name}/{verb}", action, methods=["POST"]),
        Route("/audit", audit_log, methods=["GET"]),
        Route("/audit/verify", verify, methods=["GET"]),
        Route("/audit/export.jsonl", export, methods=["GET"]),
        Route("/approvals", approvals, methods=["GET"]),
        Route("/events/stream", stream, methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(dash.close)

    app = Starlette(routes=routes, lifespan=lifespan, max_body_size=64 * 1024)
    app.state.dashboard = dash
    app.state.accounts = accounts
    app.add_middleware(SecurityHeaders)
    return app
