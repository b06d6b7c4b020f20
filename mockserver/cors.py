"""CORS for the API and the control plane, from a request's headers alone. Pure.

The mock's routes are answered by `OtpMock.handle` (in-process as much as served), not by Flask
views, so the policy lives here rather than in flask-cors: the same headers reach a browser
whichever way the mock is run.

* The API: any origin by default (`cors_origins: "*"`), a list of origins, or off. A frontend
  app on `http://localhost:5173` calls the mock with `fetch` and Basic auth.
* The control plane: loopback origins only (any port of localhost, 127.0.0.1, [::1]) and those
  of `control_origins`: it reads every code and can reset all state.

Preflights name the methods the path allows, the request headers a client of the mock sends
(`Authorization`, `Content-Type`, the scenario headers), and a max-age; every other reply to an
allowed origin carries `Access-Control-Allow-Origin`, errors included, and exposes the mock's
note header. A refused origin gets no CORS header at all, so the browser blocks the call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

ANY = "*"
ALLOWED_HEADERS = "Authorization, Content-Type, Prefer, X-Mock-Scenario, X-Mock-Error"
EXPOSED_HEADERS = "X-Mock-Note, Retry-After"
MAX_AGE = "600"


class CorsPolicy:
    """Which browser origins may read the mock's replies, per plane."""

    def __init__(self, api_origins: Iterable[str], control_allows: Callable[[str], bool]) -> None:
        origins = tuple(o.strip().rstrip("/").lower() for o in api_origins if o.strip())
        self.api_any = ANY in origins
        self.api_off = not origins or origins == ("off",)
        self.api_origins = frozenset(o for o in origins if o not in (ANY, "off"))
        self.control_allows = control_allows

    def allows(self, origin: str, plane: str) -> bool:
        if plane == "control":
            return self.control_allows(origin)
        if self.api_off:
            return False
        return self.api_any or origin.rstrip("/").lower() in self.api_origins

    def headers(self, origin: str | None, plane: str) -> dict[str, str]:
        """What a reply to `origin` carries (nothing without an Origin or for a refused one)."""
        if origin is None or not self.allows(origin, plane):
            return {}
        if plane == "api" and self.api_any:
            return {"Access-Control-Allow-Origin": ANY, "Access-Control-Expose-Headers": EXPOSED_HEADERS}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
                "Access-Control-Expose-Headers": EXPOSED_HEADERS}

    def preflight(self, origin: str | None, plane: str, allowed: tuple[str, ...]) -> dict[str, str]:
        """The headers of a preflight's answer (OPTIONS with Access-Control-Request-Method)."""
        found = self.headers(origin, plane)
        if not found:
            return {}
        found.pop("Access-Control-Expose-Headers", None)
        return {**found, "Access-Control-Allow-Methods": ", ".join(m for m in allowed if m != "OPTIONS"),
                "Access-Control-Allow-Headers": ALLOWED_HEADERS, "Access-Control-Max-Age": MAX_AGE}
