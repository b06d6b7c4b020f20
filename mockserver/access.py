"""Who may use the control plane (and the console), from the request alone. Pure.

The control plane can read every code and reset all state, so:

* **Host**: a request naming a Host must name one the mock answers to: the loopback names, the
  address it listens on, and those given with `--allowed-host` (as Vite's allowedHosts): a page
  of another site that rebinds its DNS name to 127.0.0.1 is refused (403).
* **Changes** (any method but GET, HEAD and OPTIONS) must say `Content-Type: application/json`,
  even with an empty body (a cross-site form cannot), and a browser's `Origin`, when sent, must
  be a loopback origin or one of `control_origins` (403 otherwise).
* **Who**: `Authorization: Bearer TOKEN` (or the console's cookie) with the control token gives
  everything; a key's Basic credentials give that dev_key's own state only; no credentials give
  everything only while the mock is open: listening on loopback, with no keys file and no token
  set. Otherwise anonymous callers get the public routes (health and the documents) and 401.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

from mockserver.auth import KeyRing
from mockserver.bodies import is_json_type
from mockserver.errors import ApiError, ControlError
from mockserver.pipeline import ApiRequest

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
COOKIE = "otp_mock_token"
PUBLIC = frozenset({"index", "health", "admin_openapi", "contract", "list_scenarios"})
ADMIN_ONLY = frozenset({"claim_events", "ack_events"})  # consumers of the whole stream
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Access:
    """What a control-plane request may see and change: everything, or one dev_key's state."""

    full: bool
    dev_key: str | None = None

    def scope(self, wanted: str | None) -> str | None:
        """The dev_key a call acts on: `wanted`, which a scoped caller may only leave out (its
        own then) or give as its own."""
        if self.full:
            return wanted
        if wanted not in (None, self.dev_key):
            raise ControlError(403, f"these credentials are dev_key {self.dev_key!r}'s: they see and change "
                                    "only its state; use the control token for another key")
        return self.dev_key


FULL = Access(True)
PUBLIC_ONLY = Access(False)


def is_loopback(host: str) -> bool:
    """A loopback name or address literal (127.0.0.1.nip.io is neither: a DNS name can rebind)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_AUTHORITY = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?")  # what a browser sends: no userinfo
_ORIGIN = re.compile(r"(https?)://(" + _AUTHORITY.pattern + ")")


def host_name(value: str) -> str:
    """The name of a Host header, without its port; a malformed one (`[::1]evil.com`,
    `127.0.0.1:80@evil.com`) keeps its whole text, which names no host the mock answers to."""
    value = value.strip().lower()
    found = _AUTHORITY.fullmatch(value)
    return found.group(1) if found and int(found.group(2) or 0) <= 65535 else value


class ControlAccess:
    def __init__(self, keys: KeyRing, listen_host: str, token: str | None, allowed_hosts: Iterable[str] = (),
                 origins: Iterable[str] = ()) -> None:
        self.keys = keys
        self.token = token
        self.hosts = frozenset({*LOOPBACK_NAMES, listen_host.lower(), *(h.lower() for h in allowed_hosts)})
        self.origins = frozenset(o.rstrip("/").lower() for o in origins)
        self.open = token is None  # anonymous callers get everything

    def check_host(self, request: ApiRequest) -> None:
        """403 for a Host the mock does not answer to (a DNS rebinding page)."""
        raw = request.header("host")
        if raw is None:
            return
        name = host_name(raw)
        if name not in self.hosts and not is_loopback(name):
            shown = raw[:80]
            raise ControlError(403, f"Host {shown!r} is not one the mock answers to on its control plane; "
                                    f"start it with --allowed-host {host_name(shown)} if that name is yours")

    def allowed_origin(self, origin: str, host: str | None = None) -> bool:
        """A loopback origin, one of `control_origins`, or the page's own (its host is the
        request's Host, which check_host has allowed): the console served on a LAN address."""
        origin = origin.strip().lower()
        found = _ORIGIN.fullmatch(origin)
        if found is None or int(found.group(4) or 0) > 65535:  # scheme://host[:port] only, as browsers send
            return False
        return is_loopback(found.group(3)) or origin in self.origins or \
            (host is not None and found.group(2) == host.strip().lower())

    def decide(self, request: ApiRequest, operation: str) -> Access:
        """The caller's access to `operation`, or ControlError (400, 401 or 403) saying why not."""
        self.check_host(request)
        if operation not in PUBLIC:
            self._check_site(request)
        if request.method not in _READS:
            self._check_change(request)
        access = self._who(request)
        if access is PUBLIC_ONLY and operation not in PUBLIC:
            raise ControlError(401, "the control plane needs the token printed when the mock started "
                                    "(Authorization: Bearer TOKEN), or a key's Basic credentials for its own "
                                    "state")
        if not access.full and operation in ADMIN_ONLY:
            raise ControlError(403, f"{operation} is for the control token: it hands out every key's records")
        return access

    def _check_site(self, request: ApiRequest) -> None:
        """403 for a script of another site (Fetch Metadata: `Sec-Fetch-Site: cross-site`, not a
        navigation) whose Origin is not allowed: it could not read the answer, but its requests
        would still cost the mock (an inbox of 500 rows, a reset)."""
        if request.header("sec-fetch-site") != "cross-site" or request.header("sec-fetch-mode") == "navigate":
            return
        origin = request.header("origin")
        if origin is None or not self.allowed_origin(origin, request.header("host")):
            shown = (origin or "none")[:80]
            raise ControlError(403, f"a page of another site (Origin {shown!r}) may not use the control plane; "
                                    "start the mock with --set control_origins=ORIGIN if that page is yours")

    def _check_change(self, request: ApiRequest) -> None:
        if not is_json_type(request.header("content-type")):
            got = request.header("content-type")
            raise ControlError(400, f"a change to the mock needs 'Content-Type: application/json' (even with an "
                                    f"empty body), got {got[:60] if got else 'none'!r}")
        origin = request.header("origin")
        if origin is not None and not self.allowed_origin(origin, request.header("host")):
            raise ControlError(403, f"Origin {origin[:80]!r} may not change the mock (loopback origins and "
                                    "control_origins may)")

    def _who(self, request: ApiRequest) -> Access:
        header = (request.header("authorization") or "").strip()
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer":
            if self.token is not None and hmac.compare_digest(credentials.strip().encode(), self.token.encode()):
                return FULL
            raise ControlError(401, "the control token is wrong (it is printed when the mock starts)")
        cookie = None if header or self.token is None else self._cookie(request)  # open: a stale cookie is moot
        if cookie is not None:
            if hmac.compare_digest(cookie.encode(), cookie_value(self.token or "").encode()):
                return FULL
            raise ControlError(401, "the console's cookie is from another run of the mock: open the "
                                    "/?token=... address it printed at start")
        if scheme.lower() == "basic":
            try:
                return Access(False, self.keys.authenticate(header, "control", time.time()))
            except ApiError as error:
                raise ControlError(401, error.message) from None
        return FULL if self.open else PUBLIC_ONLY

    @staticmethod
    def _cookie(request: ApiRequest) -> str | None:
        raw = request.header("cookie")
        if not raw:
            return None
        try:
            morsel = SimpleCookie(raw).get(cookie_name(request.header("host")))
        except CookieError:
            return None
        return morsel.value if morsel is not None else None


def cookie_name(host: str | None) -> str:
    """The console's cookie for the port a page was served on: a browser sends a host's cookies
    to every port of it, so two mocks on one machine each keep their own."""
    port = (host or "").rpartition(":")[2] if (host or "").count(":") == 1 or (host or "").startswith("[") else ""
    return f"{COOKIE}_{port}" if port.isascii() and port.isdigit() else COOKIE


def cookie_value(token: str) -> str:
    """What the cookie holds: a digest of the token, so the jar never holds the token itself
    (another port of the host receives the cookie, not a Bearer token)."""
    return hmac.new(token.encode(), b"otp-mock console cookie", hashlib.sha256).hexdigest()
