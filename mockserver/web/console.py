"""The console: the mock's web pages for people (an inbox of the codes it "sent", a message's
detail, the API Testing pages of EngageLab's console, the controls), as a Flask blueprint.

Every page is a client of the mock object: it reads through `mock.handle` on the control plane,
with the browser's own Host, cookie and credentials, so the access model (`access.py`), the
scopes of a key's credentials and the store's failures are the control plane's, and every
worker's messages show (they come from the store and its event stream, not this process).
The pages' scripts call the same routes (`/_mock/inbox` every half second, the API under
`/v1/`); no request of a page waits for news, so an open tab holds no request thread.

Values from requests are escaped by Jinja on the server and set with `textContent` in the
browser; the Content-Security-Policy allows only the console's own script and style files.
"""

from __future__ import annotations

import hmac
import json
import shlex
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from mockserver.access import Access, cookie_name, cookie_value
from mockserver.errors import ControlError
from mockserver.mock import OtpMock
from mockserver.pipeline import ApiRequest

PREFIX = "/_mock/console"
INBOX_ROWS = 200  # what a page shows and keeps; the inbox's live page is bounded the same
POLL_MS = 500
POLL_ROWS = 50  # what one poll brings: more changes make a resync to the newest 50 (a flood: bench/console.py)
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
STATUSES = ("plan", "target_valid", "sent", "delivered", "verified", "verified_failed", "verified_timeout",
            "target_invalid", "sent_failed", "delivered_failed")
_FORWARDED = ("host", "cookie", "authorization")


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


class Reader:
    """The control plane as the browser's request may see it, in-process."""

    def __init__(self, mock: OtpMock) -> None:
        self.mock = mock
        self.headers = {k: v for k, v in ((h, request.headers.get(h)) for h in _FORWARDED) if v is not None}

    def get(self, path: str, **query: str | int | None) -> Answer:
        shown = {k: v for k, v in query.items() if v not in (None, "")}
        reply = self.mock.handle("GET", path, self.headers, query=urlencode(shown))
        return Answer(reply.status, reply.body)


def console_blueprint() -> Blueprint:
    pages = Blueprint("console", __name__, url_prefix=PREFIX, static_folder="static",
                      template_folder="templates")
    pages.add_url_rule("/", "inbox", _inbox_page)
    pages.add_url_rule("/messages/<path:message_id>", "message", _message_page)
    pages.add_url_rule("/latest", "latest", _latest_page)
    pages.add_url_rule("/send", "send", _send_page)
    pages.add_url_rule("/verify", "verify", _verify_page)
    pages.add_url_rule("/controls", "controls", _controls_page)
    return pages


def register_console(app: Flask) -> None:
    """The console's pages under /_mock/console/, and `/` for a browser (see web/wsgi.py)."""
    app.url_map.merge_slashes = False  # no redirect of //paths before the access checks
    app.register_blueprint(console_blueprint())
    app.add_url_rule("/", "root", _inbox_page, methods=["GET", "HEAD"])
    app.before_request(_gate)  # every console path, a 404 too: Host, token and who
    app.after_request(_secure)


def _mock() -> OtpMock:
    return current_app.mock  # type: ignore[attr-defined, no-any-return]


# access -------------------------------------------------------------------------------------
def _is_console() -> bool:
    return request.path == "/" or request.path.startswith(PREFIX)


def _gate() -> BaseResponse | None:
    """The control plane's access rules for a page; `?token=` becomes the console's cookie."""
    if not _is_console() or request.endpoint == "console.static":
        return None
    mock = _mock()
    token = request.args.get("token")
    if token is not None:
        return _take_token(mock, token)
    try:
        access = mock.access.decide(_as_request(), "console")
    except ControlError as error:
        return _refused(error.status, error.message)
    request.environ["otp_mock.access"] = access
    return None


def _take_token(mock: OtpMock, token: str) -> BaseResponse:
    """A right token becomes an HttpOnly cookie holding a digest of it, named for the port, and
    the address is redirected without it (no Referer carries it; the history keeps the first
    address, as for any link); a wrong one is refused."""
    try:
        mock.access.check_host(_as_request())
    except ControlError as error:
        return _refused(error.status, error.message)
    expected = mock.control_token
    if expected is None or not hmac.compare_digest(token.encode(), expected.encode()):
        return _refused(401, "that token is not the control token (it is printed when the mock starts)")
    rest = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
    response = redirect(request.path + (f"?{rest}" if rest else ""), 303)
    response.set_cookie(cookie_name(request.host), cookie_value(expected), httponly=True, samesite="Strict",
                        path="/")
    return response


def _as_request() -> ApiRequest:
    headers = {k.lower(): v for k, v in request.headers.items()}
    return ApiRequest(request.method, request.path, headers, b"", {}, False, request.query_string.decode("latin-1"))


def _key_names() -> list[str]:
    """The dev_keys the pages offer: the keys file's with full access, the caller's own else."""
    access = _access()
    return _mock().keys.names() if access.full else [access.dev_key] if access.dev_key else []


def _access() -> Access:
    found: Access = request.environ["otp_mock.access"]
    return found


def _refused(status: int, message: str) -> Response:
    body = render_template("console/refused.html", status=status, message=message, page="refused")
    return Response(body, status, content_type="text/html; charset=utf-8")


def _secure(response: Response) -> Response:
    """Every page: our own files only, no framing, no sniffing, no caching of codes."""
    if _is_console():
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if request.endpoint != "console.static":
            response.headers["Cache-Control"] = "no-store"
    return response


def _failed(answer: Answer) -> Response:
    message = answer.body.get("message", "") if isinstance(answer.body, dict) else ""
    return _refused(answer.status, str(message))


# pages --------------------------------------------------------------------------------------
def _inbox_page() -> Response | str:
    reader = Reader(_mock())
    dev_key = request.args.get("dev_key") or _access().dev_key
    page = reader.get("/_mock/inbox", dev_key=dev_key, limit=INBOX_ROWS)
    if page.status != 200:
        return _failed(page)
    rows = page.body["messages"]
    keys = sorted({*(r["dev_key"] for r in rows), *([dev_key] if dev_key else []), *_key_names()})
    return render_template("console/inbox.html", page="inbox", rows=rows, cursor=page.body["cursor"],
                           stream=page.body["stream"],
                           clock=page.body["clock"], dev_key=dev_key or "", keys=keys, statuses=STATUSES,
                           filters={k: request.args.get(k, "") for k in ("q", "to", "template", "status")},
                           poll_ms=POLL_MS, limit=INBOX_ROWS, poll_limit=POLL_ROWS, scoped=not _access().full)


def _message_page(message_id: str) -> Response | str:
    reader = Reader(_mock())
    found = reader.get(f"/_mock/messages/{quote(message_id, safe='')}")
    if found.status != 200:
        return _failed(found)
    message = found.body
    journal = reader.get("/_mock/requests", message_id=message_id)
    requests = journal.body["requests"] if journal.status == 200 else []
    verifies = [r for r in requests if r.get("operation") == "verify_otp"]
    rows = reader.get("/_mock/inbox", dev_key=message["dev_key"], limit=INBOX_ROWS)
    row = next((r for r in rows.body["messages"] if r["message_id"] == message_id), None) \
        if rows.status == 200 else None
    return render_template("console/message.html", page="message", message=message, row=row,
                           requests=requests, verifies=[_verify_view(r) for r in verifies],
                           curl=_verify_curl(message), deliveries=_deliveries(reader, message_id),
                           cursor=rows.body["cursor"] if rows.status == 200 else 0, poll_ms=POLL_MS,
                           stream=rows.body["stream"] if rows.status == 200 else "",
                           poll_limit=POLL_ROWS)


def _latest_page() -> BaseResponse:
    """The newest message to a recipient (an unencoded + arrives as a space: read as a phone)."""
    reader = Reader(_mock())
    to = request.args.get("to", "")
    if to[:1] == " " and to[1:].isdigit():
        to = "+" + to[1:]
    found = reader.get("/_mock/messages/latest", to=to, template_id=request.args.get("template_id"),
                       dev_key=request.args.get("dev_key") or _access().dev_key)
    if found.status != 200:
        return _failed(found)
    return redirect(f"{PREFIX}/messages/{quote(found.body['message_id'], safe='')}", 302)


def _send_page() -> str:
    return render_template("console/send.html", page="send", keys=_key_names(),
                           templates=_template_choices(), errors=_errors_of("send_otp"), languages=_languages())


def _verify_page() -> str:
    return render_template("console/verify.html", page="verify", keys=_key_names(),
                           message_id=request.args.get("message_id", ""), errors=_errors_of("verify_otp"))


def _controls_page() -> Response | str:
    reader = Reader(_mock())
    scenarios = reader.get("/_mock/scenarios")
    clock = reader.get("/_mock/clock", dev_key=_access().dev_key)
    if scenarios.status != 200:
        return _failed(scenarios)
    if clock.status != 200:
        return _failed(clock)
    return render_template("console/controls.html", page="controls", scenarios=scenarios.body,
                           clock=clock.body, keys=_key_names(), scoped=not _access().full,
                           own_key=_access().dev_key or "")


# helpers ------------------------------------------------------------------------------------
def _errors_of(operation: str) -> list[dict[str, Any]]:
    """The documented error codes of an operation, for the page's "force an error" choice."""
    found = [info for info in _mock().contract.errors.values() if operation in info.operations and info.code]
    return [{"code": info.code, "name": info.name} for info in sorted(found, key=lambda i: i.code)]


def _languages() -> list[str]:
    schema = _mock().contract.document.get("components", {}).get("schemas", {}).get("Language", {})
    return [str(v) for v in schema.get("enum", ["default"])]


def _template_choices() -> list[str]:
    return [t.template_id for t in _mock().service.policy.starting_templates]


def _verify_view(entry: dict[str, Any]) -> dict[str, Any]:
    """A verification from the journal: when, the code tried, and what the API said."""
    try:
        body = json.loads(entry.get("body") or "{}")
        reply = json.loads(entry.get("reply") or "{}")
    except ValueError:
        body, reply = {}, {}
    body = body if isinstance(body, dict) else {}
    reply = reply if isinstance(reply, dict) else {}
    return {"at": entry["at"], "virtual_at": entry.get("virtual_at"), "code": body.get("verify_code"),
            "verified": reply.get("verified") is True, "status": entry["status"], "reply_code": reply.get("code"),
            "message": reply.get("message")}


def _verify_curl(message: dict[str, Any]) -> str:
    """The curl command that verifies a message, every part quoted for a POSIX shell (a dev_key
    is the client's to choose: it may hold quotes, `$(...)` or spaces)."""
    body = json.dumps({"message_id": message["message_id"], "verify_code": message.get("code") or ""})
    url = request.host_url.rstrip("/") + "/v1/verifications"
    return " ".join(["curl -sS -u", shlex.quote(f"{message['dev_key']}:YOUR_DEV_SECRET"),
                     "-H 'Content-Type: application/json' -d", shlex.quote(body), shlex.quote(url)])


def _deliveries(reader: Reader, message_id: str) -> list[dict[str, Any]] | None:
    """The message's callback deliveries, where the mock has callbacks (else None)."""
    found = reader.get("/_mock/callbacks/deliveries", message_id=message_id)
    if found.status != 200 or not isinstance(found.body, dict):
        return None
    rows = found.body.get("deliveries")
    return rows if isinstance(rows, list) else None

