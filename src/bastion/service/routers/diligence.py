"""Due-diligence routes: the user answers their own requests (/v1/account/due-diligence/...), the exchange's
feeds send signals that may open one (service), compliance officers review them and keep the triggers
(/v1/compliance/...). Documents are never served to anyone but an operator, and each such read is audited."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from pydantic import Field
from sqlalchemy.exc import IntegrityError

from bastion.bounds import INT32_MAX, PositiveInt32, Text
from bastion.db.sealing import Keyring
from bastion.diligence import documents as dd_documents
from bastion.diligence import requests as dd
from bastion.diligence import rules as dd_rules
from bastion.errors import InvalidInputError
from bastion.service.access import CurrentUser, OperatorScope, ServiceScope, SessionUser, acting_credential
from bastion.service.boundary import Upload
from bastion.service.deps import SessionDep, SettingsDep, diligence_clock
from bastion.service.schemas import RequestBody
from bastion.settings import Settings

router = APIRouter(tags=["due diligence"])
Feed = ServiceScope("compliance:write")
Officer = OperatorScope("compliance:review")
ComplianceAdmin = OperatorScope("compliance:admin")

DOCUMENTS_PATH = "/v1/account/due-diligence/{request_id}/documents"


def uploads(settings: Settings) -> Upload:
    """The document upload route for the request boundary: multipart, capped at the upload setting."""
    return Upload(
        path=re.compile(r"/v1/account/due-diligence/[^/]+/documents"),
        max_file_bytes=settings.diligence.upload_max_bytes,
        field="file",
        setting="BASTION_DILIGENCE_UPLOAD_MAX_BYTES",
    )


# --------------------------------------------------------------------------------------------- clock
def _now(request: Request) -> Any:
    return diligence_clock(request.app)()


def _box(settings: Settings) -> Keyring:
    return dd.sealer(settings.secret_key_bytes())


# ---------------------------------------------------------------------------------------------- user
@router.get("/v1/account/due-diligence")
def my_requests(caller: CurrentUser, session: SessionDep, request: Request) -> list[dd.MyRequestOut]:
    """Your due-diligence requests, newest first."""
    return dd.my_requests(session, caller.uid, _now(request))


@router.get("/v1/account/due-diligence/{request_id}")
def my_request(
    request_id: PositiveInt32, caller: CurrentUser, session: SessionDep, request: Request
) -> dd.MyRequestOut:
    """One of your due-diligence requests (another user's answers 404, as a missing one)."""
    return dd.my_request(session, caller.uid, request_id, _now(request))


@router.put("/v1/account/due-diligence/{request_id}/answers")
def put_answers(
    request_id: PositiveInt32,
    body: dd.Questionnaire,
    caller: SessionUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> dd.MyRequestOut:
    """Answer the questionnaire (occupation, source of income, expected activity, source of funds/wealth);
    answers may be replaced until an officer decides. Sealed at rest."""
    out = dd.answer(session, _box(settings), caller.uid, request_id, body, _now(request))
    session.commit()
    return out


@router.post(DOCUMENTS_PATH, status_code=201)
async def post_document(
    request_id: PositiveInt32,
    file: Annotated[UploadFile, File(description="a PDF, PNG or JPEG document (checked by its content)")],
    purpose: Annotated[dd.Purpose, Form()],
    caller: SessionUser,
    settings: SettingsDep,
    request: Request,
) -> dd.DocumentOut:
    """Upload a source-of-funds or source-of-wealth document (multipart: `file`, `purpose`). Its type is
    read from its content, not its name or Content-Type; over the size cap it is refused (413). Exactly one
    `file` and one `purpose` part: a repeated one is refused (422) rather than one of them silently dropped."""
    form = await request.form()  # already parsed for the parameters above; Starlette caches it
    for name in ("file", "purpose"):
        if len(form.getlist(name)) > 1:
            raise InvalidInputError(name, f"send exactly one `{name}` part (this request has several)")
    cap = settings.diligence.upload_max_bytes
    if file.size is not None and file.size > cap:
        raise dd_documents.too_large(cap)
    data = await file.read(cap + 1)  # one byte past the cap is enough to know
    if len(data) > cap:
        raise dd_documents.too_large(cap)
    at = _now(request)

    def store() -> dd.DocumentOut:
        with request.app.state.sessionmaker() as session:
            out = dd.add_document(
                session, _box(settings), caller.uid, request_id, purpose, data, cap,
                settings.diligence.max_documents, at,
            )  # fmt: skip
            session.commit()
            return out

    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(store)


# ------------------------------------------------------------------------------------------- service
@router.post("/v1/compliance/signals", dependencies=[Feed])
def post_signals(
    items: Annotated[list[dd.Signal], Field(min_length=1, max_length=1000)], session: SessionDep, request: Request
) -> list[dd.SignalOut]:
    """Facts that may open a due-diligence request (deposits, risk scores, jurisdictions), in order;
    idempotent (an undecided request for the same user and reason is not opened twice)."""
    actor = acting_credential(request)
    for attempt in range(2):
        try:
            out = [dd.ingest(session, s, actor) for s in items]
            session.commit()
            return out
        except IntegrityError:
            # A concurrent request opened the same user's request (or stored the same deposit) first.
            session.rollback()
            if attempt:
                raise
    raise AssertionError("unreachable")


# ----------------------------------------------------------------------------------------- operators
class RuleSetIn(RequestBody):
    definition: dict[str, Any]
    created_by: Annotated[str, Field(min_length=1, max_length=64)] = ""
    note: Text | None = None
    activate: bool = False


@router.get("/v1/compliance/due-diligence/rules", dependencies=[ComplianceAdmin])
def get_rules(session: SessionDep) -> list[dd_rules.RuleSetOut]:
    """Every version of the triggers (the active one marked); none stored: the built-in default applies."""
    return dd_rules.history(session)


@router.post("/v1/compliance/due-diligence/rules", dependencies=[ComplianceAdmin], status_code=201)
def post_rules(body: RuleSetIn, session: SessionDep, request: Request) -> dd_rules.RuleSetOut:
    """A new version of the triggers, validated whole (errors name the field); optionally activated."""
    who = acting_credential(request, body.created_by, 128)
    out = dd_rules.create(session, body.definition, who, body.note, body.activate, _now(request))
    if out.active:
        dd.refresh_all_holds(session, _now(request))  # the new hold limit applies to users held already
    session.commit()
    return out


@router.post("/v1/compliance/due-diligence/rules/{version}/activate", dependencies=[ComplianceAdmin])
def post_activate_rules(version: PositiveInt32, session: SessionDep, request: Request) -> dd_rules.RuleSetOut:
    """Make a stored version of the triggers the active one (requests opened from now on use it)."""
    out = dd_rules.activate_version(session, version)
    dd.refresh_all_holds(session, _now(request))
    session.commit()
    return out


@router.get("/v1/compliance/due-diligence", dependencies=[Officer])
def get_queue(
    session: SessionDep,
    request: Request,
    state: dd.State | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=INT32_MAX),
) -> list[dd.RequestOut]:
    """The review queue, nearest deadline first; `state` filters (overdue: open past its deadline)."""
    return dd.queue(session, _now(request), state, limit, offset)


@router.post("/v1/compliance/due-diligence", dependencies=[Officer], status_code=201)
def post_request(body: dd.OperatorRequestIn, session: SessionDep, request: Request) -> dd.RequestOut:
    """Open a request for a user by an officer's decision (reason `operator`); an undecided one is returned."""
    who = acting_credential(request, body.officer or "", 128)
    r, _ = dd.open_request(session, body.user_id, "operator", {"note": body.note or ""}, who, _now(request))
    session.commit()
    return dd.queue_row(session, r, _now(request))


@router.get("/v1/compliance/due-diligence/{request_id}", dependencies=[Officer])
def get_request(request_id: PositiveInt32, session: SessionDep, settings: SettingsDep, request: Request) -> Any:
    """A request with the user's answers (opened), its documents and its audit trail; the read is audited."""
    out = dd.detail(session, _box(settings), request_id, acting_credential(request), _now(request))
    session.commit()
    return out


@router.get("/v1/compliance/due-diligence/{request_id}/documents/{document_id}", dependencies=[Officer])
def get_document(
    request_id: PositiveInt32,
    document_id: PositiveInt32,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> Response:
    """A document's bytes (operators only; never cached, always a download); the read is audited."""
    data, media_type = dd.document(
        session, _box(settings), request_id, document_id, acting_credential(request), _now(request)
    )
    session.commit()
    ext = dd_documents.ALLOWED[media_type]
    return Response(
        content=data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="dd-{request_id}-{document_id}.{ext}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/v1/compliance/due-diligence/{request_id}/decision", dependencies=[Officer])
def post_decision(
    request_id: PositiveInt32, body: dd.DecisionIn, session: SessionDep, request: Request
) -> dd.RequestOut:
    """Approve (an answered request) or reject; approving the user's last request lifts the withdrawal hold."""
    who = acting_credential(request, body.officer or "", 128)
    out = dd.decide(session, request_id, body.action, who, body.note, _now(request))
    session.commit()
    return out
