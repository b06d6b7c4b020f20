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

import hmac
import ipaddress
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

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


def host_name(value: str) -> str:
    """The name of a Host header, without its port."""
    value = value.strip().lower()
    if value.startswith("["):
        return value.split("]", 1)[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


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
        try:
            parts = urlsplit(origin.strip().lower())
            hostname = parts.hostname or ""
        except ValueError:
            return False
        if parts.scheme not in ("http", "https"):
            return False
        return is_loopback(hostname) or origin.rstrip("/").lower() in self.origins or \
            (host is not None and parts.netloc == host.strip().lower())

    def decide(self, request: ApiRequest, operation: str) -> Access:
        """The caller's access to `operation`, or ControlError (400, 401 or 403) saying why not."""
        self.check_host(request)
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
        if scheme.lower() == "bearer" or (not header and self._cookie(request)):
            given = credentials.strip() if header else self._cookie(request) or ""
            if self.token is not None and hmac.compare_digest(given.encode(), self.token.encode()):
                return FULL
            raise ControlError(401, "the control token is wrong (it is printed when the mock starts)")
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
            morsel = SimpleCookie(raw).get(COOKIE)
        except CookieError:
            return None
        return morsel.value if morsel is not None else None
