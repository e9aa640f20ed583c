"""Pages for administrators: accounts, API tokens, homes import, audit log, settings; and one
home's consent, named carers and audit."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from dashboard import accounts, admin, audit
from dashboard.access import Principal, Role
from dashboard.deps import Ctx, check_csrf, page_roles, served_over_https
from dashboard.templating import render
from hof.consent import Stream
from hof.errors import HofError
from hof.registry import carers, import_homes
from hof.registry.consent import (
    Basis,
    ConsentIn,
    publish_current,
    read_consent_csv,
    record_consents,
)
from hof.topic import is_valid_id

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(page_roles(Role.ADMIN))]
HomeId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


async def _page(
    request: Request,
    ctx: Ctx,
    who: Principal,
    *,
    error: str | None = None,
    notice: str | None = None,
    new_token: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    home = request.query_params.get("home", "")
    actor = request.query_params.get("actor", "")
    users = await run_in_threadpool(accounts.list_users, ctx.engine)
    tokens = await run_in_threadpool(admin.tokens, ctx.engine)
    events = await run_in_threadpool(
        lambda: admin.audit_events(ctx.engine, home=home, actor=actor, limit=50)
    )
    homes = await run_in_threadpool(admin.home_count, ctx.engine)
    return render(
        request,
        "admin.html",
        who,
        status_code=status_code,
        title="Admin",
        users=users,
        tokens=tokens,
        events=events,
        homes=homes,
        roles=list(Role),
        error=error,
        notice=notice or request.query_params.get("done"),
        new_token=new_token,
        audit_home=home,
        audit_actor=actor,
        conf=ctx.settings.dashboard,
        https=served_over_https(ctx.settings),
    )


@router.get("/admin", response_class=HTMLResponse)
async def admin_page(request: Request, ctx: Ctx, who: Admin) -> HTMLResponse:
    await run_in_threadpool(audit.record, ctx.engine, who, "view_audit_log")
    return await _page(request, ctx, who)


@router.post("/admin/users", response_model=None)
async def add_user(
    request: Request,
    ctx: Ctx,
    who: Admin,
    csrf: Annotated[str, Form()],
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    patches: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who, csrf)
    try:
        user = await run_in_threadpool(
            lambda: accounts.create_user(
                ctx.engine,
                email=email,
                name=name,
                role=Role(role),
                password=password,
                patches=tuple(p.strip() for p in patches.split(",") if p.strip()),
            )
        )
    except (accounts.AccountError, ValueError) as exc:
        message = str(exc) if isinstance(exc, accounts.AccountError) else "Choose a role"
        return await _page(request, ctx, who, error=message, status_code=400)
    await run_in_threadpool(audit.record, ctx.engine, who, "add_user", subject=user.email)
    return RedirectResponse(f"/admin?done=Added+{user.email}", status_code=303)


@router.post("/admin/users/active", response_model=None)
async def set_active(
    ctx: Ctx,
    who: Admin,
    csrf: Annotated[str, Form()],
    email: Annotated[str, Form()],
    active: Annotated[str, Form()],
) -> Response:
    check_csrf(who, csrf)
    user = await run_in_threadpool(accounts.set_active, ctx.engine, email, active == "yes")
    action = "enable_user" if user.active else "disable_user"
    await run_in_threadpool(audit.record, ctx.engine, who, action, subject=user.email)
    word = "Enabled" if user.active else "Disabled"
    return RedirectResponse(f"/admin?done={word}+{user.email}", status_code=303)


@router.post("/admin/tokens", response_class=HTMLResponse)
async def create_token(
    request: Request,
    ctx: Ctx,
    who: Admin,
    csrf: Annotated[str, Form()],
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> HTMLResponse:
    check_csrf(who, csrf)
    if not name.strip():
        return await _page(request, ctx, who, error="Say what the token is for", status_code=400)
    try:
        token = await run_in_threadpool(accounts.create_token, ctx.engine, email, name.strip())
    except accounts.AccountError as exc:
        return await _page(request, ctx, who, error=str(exc), status_code=400)
    await run_in_threadpool(
        audit.record, ctx.engine, who, "create_token", subject=email, detail={"name": name}
    )
    return await _page(request, ctx, who, new_token=token)


@router.post("/admin/tokens/revoke", response_model=None)
async def revoke_token(
    ctx: Ctx, who: Admin, csrf: Annotated[str, Form()], prefix: Annotated[str, Form()]
) -> Response:
    check_csrf(who, csrf)
    await run_in_threadpool(accounts.revoke_token, ctx.engine, prefix)
    await run_in_threadpool(audit.record, ctx.engine, who, "revoke_token", subject=prefix)
    return RedirectResponse(f"/admin?done=Revoked+{prefix}", status_code=303)


@router.post("/admin/homes", response_model=None)
async def upload_homes(
    request: Request,
    ctx: Ctx,
    who: Admin,
    csrf: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
) -> Response:
    check_csrf(who, csrf)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "homes.csv"
        path.write_bytes(await file.read())
        try:
            # Consent columns (docs/data-protection.md) are read first: a bad cell stops it all.
            decisions = await run_in_threadpool(lambda: list(read_consent_csv(path)))
            written = await run_in_threadpool(import_homes, ctx.engine, path)
            changed = await run_in_threadpool(
                lambda: record_consents(ctx.engine, decisions, recorded_by=who.email)
            )
        except HofError as exc:
            message = str(exc).replace(str(path), file.filename or "the file")
            return await _page(request, ctx, who, error=message, status_code=400)
        except IntegrityError:
            message = "A property reference in the file already belongs to another home"
            return await _page(request, ctx, who, error=message, status_code=409)
    await run_in_threadpool(
        lambda: audit.record(
            ctx.engine, who, "import_homes", detail={"homes": written, "consents": len(changed)}
        )
    )
    if changed:
        try:  # the running services obey it within seconds; `hof rights sync` if not now
            await run_in_threadpool(publish_current, ctx.settings.mqtt, ctx.engine, changed)
        except Exception:
            done = f"Imported+{written}+homes;+consent+recorded+but+not+yet+published"
            return RedirectResponse(f"/admin?done={done}", status_code=303)
    return RedirectResponse(f"/admin?done=Imported+{written}+homes", status_code=303)


@router.get("/admin/home", response_model=None)
async def find_home_rights(request: Request, ctx: Ctx, who: Admin, home: str = "") -> Response:
    """The Admin page's "a home's consent, carers and audit" form: to that home's page."""
    home = home.strip()
    if not is_valid_id(home):
        return await _page(request, ctx, who, error="Enter a home id", status_code=400)
    return RedirectResponse(f"/admin/homes/{home}", status_code=303)


async def _home_page(
    request: Request,
    ctx: Ctx,
    who: Principal,
    home_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    rights = await run_in_threadpool(admin.home_rights, ctx.settings, ctx.engine, home_id)
    return render(
        request,
        "admin_home.html",
        who,
        status_code=status_code,
        title=f"Home {home_id}: consent, carers and audit",
        rights=rights,
        streams=list(Stream),
        bases=list(Basis),
        error=error,
        notice=request.query_params.get("done"),
    )


@router.get("/admin/homes/{home_id}", response_class=HTMLResponse)
async def home_rights_page(request: Request, home_id: HomeId, ctx: Ctx, who: Admin) -> HTMLResponse:
    # The page shows who viewed the home: reviewing that audit is itself audited.
    await run_in_threadpool(lambda: audit.record(ctx.engine, who, "view_audit_log", home=home_id))
    return await _home_page(request, ctx, who, home_id)


@router.post("/admin/homes/{home_id}/consent", response_model=None)
async def record_consent(
    request: Request,
    home_id: HomeId,
    ctx: Ctx,
    who: Admin,
    csrf: Annotated[str, Form()],
    stream: Annotated[str, Form()] = "",
    granted: Annotated[str, Form()] = "",
    basis: Annotated[str, Form()] = "consent",
    note: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who, csrf)
    try:
        decision = ConsentIn(
            home=home_id, stream=stream, granted=granted == "yes", basis=basis, note=note
        )
        if granted not in ("yes", "no"):
            raise ValueError("granted")
    except (ValidationError, ValueError):
        message = "Choose the data stream, whether consent is given or withdrawn, and its basis"
        return await _home_page(request, ctx, who, home_id, error=message, status_code=400)
    try:
        published = await run_in_threadpool(
            admin.record_consent, ctx.settings, ctx.engine, who, decision
        )
    except HofError as exc:
        return await _home_page(request, ctx, who, home_id, error=str(exc), status_code=404)
    word = "given" if decision.granted else "withdrawn"
    done = f"Consent to {decision.stream.value} {word}"
    if not published:
        done += "; recorded but not yet published to the services"
    return RedirectResponse(f"/admin/homes/{home_id}?done={quote(done)}", status_code=303)


@router.post("/admin/homes/{home_id}/carers", response_model=None)
async def name_carer(
    request: Request,
    home_id: HomeId,
    ctx: Ctx,
    who: Admin,
    csrf: Annotated[str, Form()],
    email: Annotated[str, Form()] = "",
    relationship: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who, csrf)
    try:
        row = await run_in_threadpool(
            lambda: carers.name_carer(
                ctx.engine, home_id, email, relationship=relationship, recorded_by=who.email
            )
        )
    except carers.CareError as exc:
        return await _home_page(request, ctx, who, home_id, error=str(exc), status_code=400)
    await run_in_threadpool(
        lambda: audit.record(
            ctx.engine,
            who,
            "name_carer",
            home=home_id,
            subject=row.email,
            detail={"relationship": row.relationship},
        )
    )
    done = quote(f"{row.email} named as a carer")
    return RedirectResponse(f"/admin/homes/{home_id}?done={done}", status_code=303)


@router.post("/admin/homes/{home_id}/carers/end", response_model=None)
async def end_carer(
    request: Request,
    home_id: HomeId,
    ctx: Ctx,
    who: Admin,
    csrf: Annotated[str, Form()],
    email: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who, csrf)
    try:
        row = await run_in_threadpool(
            lambda: carers.end_care(ctx.engine, home_id, email, ended_by=who.email)
        )
    except carers.CareError as exc:
        return await _home_page(request, ctx, who, home_id, error=str(exc), status_code=400)
    await run_in_threadpool(
        lambda: audit.record(ctx.engine, who, "end_carer", home=home_id, subject=row.email)
    )
    done = quote(f"{row.email} is no longer a carer")
    return RedirectResponse(f"/admin/homes/{home_id}?done={done}", status_code=303)
