"""The layers, seen from a running interpreter: the pure core loads and serves without the web
framework, and the public surface is what it says. (`lint-imports` checks the import graph in
`make test`; these check what a process really loads.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import mockserver

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mockserver"
EDGE = ("mockserver.app", "mockserver.cli", "mockserver.__main__", "mockserver.web",  # may load Flask
        "mockserver.testing")  # the testing face serves through the web layer (tests/test_testing_plugin.py)


def run_python(code: str) -> str:
    """Run code in a fresh interpreter (this one has Flask loaded already); return its stdout."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def core_modules() -> list[str]:
    names = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in PACKAGE.rglob("*.py")]
    names = [n.removesuffix(".__init__") for n in names]
    return sorted(n for n in names if not n.startswith(EDGE))


def test_every_module_of_the_core_loads_without_the_web_framework() -> None:
    modules = core_modules()
    assert "mockserver.mock" in modules and "mockserver.store.redisstore" in modules
    loaded = run_python(f"""
        import importlib, sys
        for name in {modules!r}:
            importlib.import_module(name)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("flask", "werkzeug", "waitress", "click")))
    """)
    assert loaded.strip() == "[]"


def test_the_tour_runs_through_the_mock_object_alone() -> None:
    """Send, read the code, verify, then send again, let the clock pass the TTL and see 3003,
    with nothing but OtpMock: no Flask, no werkzeug, no socket."""
    out = run_python("""
        import base64, json, sys
        from mockserver import OtpMock

        mock = OtpMock({"seed": 3})
        auth = {"Authorization": "Basic " + base64.b64encode(b"team-a:s3cret").decode(),
                "Content-Type": "application/json"}

        def call(path, body):
            reply = mock.handle("POST", path, auth, json.dumps(body).encode())
            return reply.status, json.loads(reply.encode())

        status, sent = call("/v1/messages", {"to": "+6591234567", "template": {"id": "test-template-1"}})
        assert status == 200 and sent["send_channel"] == "whatsapp", sent
        code = mock.control.latest("+6591234567").code
        status, checked = call("/v1/verifications", {"message_id": sent["message_id"], "verify_code": code})
        assert (status, checked["verified"]) == (200, True), checked
        status, again = call("/v1/messages", {"to": "+6591234567", "template": {"id": "test-template-1"}})
        assert status == 200, again
        assert mock.control.advance_clock(301).offset_seconds == 301
        newest = mock.control.message(again["message_id"])
        assert newest.status == "verified_timeout", newest
        status, late = call("/v1/verifications", {"message_id": again["message_id"], "verify_code": newest.code})
        assert (status, late) == (400, {"code": 3003, "message": "verify code expired"}), late
        steps = [s["status"] for e in mock.control.events(types=["message"]).events for s in e.data["steps"]]
        assert steps == ["plan", "target_valid", "sent", "delivered", "verified",
                         "plan", "target_valid", "sent", "delivered", "verified_timeout"], steps
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("flask", "werkzeug")))
    """)
    assert out.strip() == "[]"


def test_the_public_surface_is_pinned() -> None:
    """As httpx's test_exported_members: what `mockserver` exports is a decision, not an accident."""
    assert mockserver.__all__ == [
        "ApiError", "ApiReply", "ConfigError", "Contract", "ContractError", "ContractViolation", "ControlError",
        "MockError", "OtpMock", "SentMessage", "Settings", "StreamEvent", "create_app", "default_spec_path",
        "verify_callback_id",  # for receivers of the mock's callbacks (issue 13)
    ]
    for name in mockserver.__all__:
        assert getattr(mockserver, name).__name__ == name
        assert name in dir(mockserver)


def test_importing_the_package_loads_nothing_heavy() -> None:
    loaded = run_python("""
        import sys, mockserver
        print(sorted(m for m in sys.modules if m.startswith("mockserver")))
    """)
    assert loaded.strip() == "['mockserver', 'mockserver.lazy']"  # the lazy exports' helper: stdlib only
