"""The hostile probe again, over real sockets against `otp-mock serve`: idle and half-sent
connections, a 300 MB upload, memory amplification, what waitress answers itself, the control
plane reached from another machine, a store that fails under a running mock, a master that dies."""

from __future__ import annotations

import base64
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from redis_server import redis_server

from mockserver.access import cookie_value
from test_served import stop

pytestmark = pytest.mark.served
AUTH = {"Authorization": "Basic " + base64.b64encode(b"team-a:s3cret").decode()}
MiB = 1 << 20


class Served:
    """`otp-mock serve` in its own process: its URL on 127.0.0.1 and what it printed at start."""

    def __init__(self, *args: str) -> None:
        command = [sys.executable, "-m", "mockserver", "serve", "--port", "0", *args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.process.stdout is not None
        self.banner: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(line.startswith("Ready in") for line in self.banner):
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise AssertionError(f"otp-mock serve did not start: {self.process.communicate()[1][-2000:]}")
            self.banner.append(line.rstrip("\n"))
        found = re.search(r"at http://[^\s:]+:(\d+)", "\n".join(self.banner))
        assert found, self.banner
        self.port = int(found.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        """The server's processes: the master and its workers."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [pid, *map(int, children)]

    def proc_sum(self, file: str, field: str) -> int:
        total = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1])
        return total

    def stop(self) -> tuple[int, str, str]:
        return stop(self.process)


@contextmanager
def served(*args: str) -> Iterator[Served]:
    server = Served(*args)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            code, out, err = server.stop()
            assert "s3cret" not in out + err


def send_otp(url: str, to: str, **kwargs: Any) -> requests.Response:
    return requests.post(f"{url}/v1/messages", json={"to": to, "template": {"id": "test-template-1"}},
                         headers=AUTH, timeout=kwargs.pop("timeout", 10), **kwargs)


# -- connections -----------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "two-workers"])
def test_idle_and_half_sent_connections_cost_other_clients_nothing(workers: list[str], tmp_path: Path) -> None:
    with served(*workers, *(["--store", f"sqlite:{tmp_path / 'w.db'}"] if workers else [])) as server, \
            ExitStack() as held:
        idle = [held.enter_context(socket.create_connection(("127.0.0.1", server.port), timeout=5))
                for _ in range(200)]
        half = [held.enter_context(socket.create_connection(("127.0.0.1", server.port), timeout=5))
                for _ in range(50)]
        for sock in half:
            sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"to\": ")
        time.sleep(0.3)
        slowest = 0.0
        for n in range(100):  # from another client, one at a time, each bounded
            started = time.monotonic()
            if n % 2:
                reply = send_otp(server.url, f"+65912{n:05d}", timeout=5)
            else:
                reply = requests.get(f"{server.url}/_mock/health", timeout=5)
            slowest = max(slowest, time.monotonic() - started)
            assert reply.status_code == 200, reply.text
        assert slowest < 1.0, f"the slowest of 100 requests took {slowest:.2f} s"
        assert len(idle) == 200


# -- a 300 MB upload ------------------------------------------------------------------------------

def _reply_of(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    data = b""
    while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return int(head.split()[1]), json.loads(body)


def _length(data: bytes) -> int:
    found = re.search(rb"content-length: (\d+)", data.lower())
    return int(found.group(1)) if found else 0


def _push(sock: socket.socket, total: int, framed: bool) -> tuple[int, tuple[int, dict[str, Any]] | None]:
    """Send up to `total` bytes of body; stop when the server answers or closes."""
    block = b"x" * MiB
    pushed = 0
    while pushed < total:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            return pushed, _reply_of(sock)
        try:
            sock.sendall(b"100000\r\n" + block + b"\r\n" if framed else block)
        except OSError:  # the server closed: what it answered, if anything, is in the buffer
            break
        pushed += MiB
    try:
        return pushed, _reply_of(sock)
    except (OSError, AssertionError, ValueError):
        return pushed, None


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_300_mb_upload_is_refused_without_spooling_it(framing: str) -> None:
    total = 300 * MiB
    with served() as server:
        length = f"Content-Length: {total}" if framing == "content-length" else "Transfer-Encoding: chunked"
        before = server.proc_sum("io", "wchar:")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH['Authorization']}"
                         f"\r\nContent-Type: application/json\r\n{length}\r\n\r\n".encode())
            pushed, reply = _push(sock, total, framing == "chunked")
        written = server.proc_sum("io", "wchar:") - before
        assert reply is not None, f"no reply after {pushed // MiB} MiB"
        assert reply[0] == 400 and reply[1]["code"] == 3001 and "large" in reply[1]["message"], reply
        assert pushed < 64 * MiB, f"{pushed // MiB} MiB were read before the refusal"
        assert written <= MiB + 256 * 1024, f"{written} bytes written (limit max_body_bytes, 1 MiB)"
        assert requests.get(f"{server.url}/_mock/health", timeout=5).status_code == 200


def test_a_body_over_the_limit_sent_whole_always_gets_its_3001() -> None:
    """The refusal comes before the body is read; the server then drains what the client still
    sends (a lingering close) instead of closing on unread bytes, whose RST could destroy the
    refusal before the client read it (an async httpx client lost it 6 times in 10 without)."""
    import asyncio

    import httpx

    from mockserver.testing import serve_in_thread

    async def codes(url: str) -> list[int]:
        found = []
        for _ in range(10):
            async with httpx.AsyncClient() as client:
                await client.get(url + "/_mock/health")  # the big body goes on a kept-alive connection
                reply = await client.post(url + "/v1/messages", headers={**AUTH, "Content-Type": "application/json"},
                                          content=b"x" * (2 * MiB))
                found.append(reply.json()["code"])
        return found

    with serve_in_thread() as served:
        assert asyncio.run(codes(served.base_url)) == [3001] * 10


# -- memory amplification -----------------------------------------------------------------------

@pytest.mark.parametrize("extra", [[], ["--set", "max_recipients=1000"], ["--store", "sqlite"]],
                         ids=["defaults", "1000-recipients-allowed", "sqlite"])
def test_two_1000_recipient_messages_with_a_1_mb_param_stay_small(extra: list[str], tmp_path: Path) -> None:
    if extra[-1:] == ["sqlite"]:
        extra = ["--store", f"sqlite:{tmp_path / 'amp.db'}", "--set", "max_recipients=1000"]
    body = {"to": [f"+6591{n:06d}" for n in range(1000)],
            "template": {"id": "notification-template", "params": {"name": "x" * 1_000_000}}}
    assert len(json.dumps(body)) < MiB  # under the body limit: the bound that answers is the mock's own
    with served(*extra) as server:
        send_otp(server.url, "+6590000001")  # warm: the first request's imports are not the amplification
        before = server.proc_sum("status", "VmRSS:")
        db = tmp_path / "amp.db"
        size_before = db.stat().st_size if db.exists() else 0
        for _ in range(2):
            reply = requests.post(f"{server.url}/v1/custom-messages", json=body, headers=AUTH, timeout=30)
            assert reply.status_code == 400 and reply.json()["code"] == 3002, reply.text
            assert re.search("max_recipients|max_message_bytes", reply.json()["message"]), reply.text
        grown = (server.proc_sum("status", "VmRSS:") - before) / 1024
        assert grown < 50, f"RSS grew by {grown:.0f} MiB"
        if db.exists():
            assert db.stat().st_size - size_before < MiB
        listed = requests.get(f"{server.url}/_mock/messages", timeout=5).json()["messages"]
        assert len(listed) == 1  # the warm-up's; nothing of the refused sends


# -- what waitress answers itself -----------------------------------------------------------------

RAW = {
    "bad-chunk-size": b"POST /v1/messages HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "two-content-lengths": b"POST /v1/messages HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}",
    "bad-content-length": b"POST /v1/messages HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\n",
    "nul-in-header": b"GET /v1/template-configs HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n",
    "headers-too-large": b"GET /v1/template-configs HTTP/1.1\r\nHost: h\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n",
    "te-identity": b"POST /v1/messages HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
    "double-slash": b"POST /v1//messages HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}",
    "control-bad-chunk": b"POST /_mock/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
}


@pytest.fixture(scope="module")
def one() -> Iterator[Served]:
    with served() as server:
        yield server


@pytest.mark.parametrize("name", list(RAW))
def test_what_waitress_answers_itself_is_in_the_envelope(one: Served, name: str) -> None:
    with socket.create_connection(("127.0.0.1", one.port), timeout=10) as sock:
        sock.sendall(RAW[name])
        status, body = _reply_of(sock)
    assert 400 <= status < 500 and set(body) == {"code", "message"}, (status, body)
    expected = status if name.startswith("control") else (3001, 401, 404)  # the API's own codes
    assert body["code"] == expected if isinstance(expected, int) else body["code"] in expected, body


def test_a_client_that_sends_the_whole_refused_body_still_reads_the_answer(one: Served) -> None:
    """A 2 MB body sent in full before reading: the server has refused it at 1 MiB, and reads
    and drops the rest, so the client gets the 3001 instead of a reset (0 of 20 before)."""
    body = b"x" * 2_000_000
    head = (f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", one.port), timeout=10) as sock:
            sock.sendall(head + body)
            data = b""
            for _ in range(1000):  # bounded: the server closes after the answer
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        assert data.startswith(b"HTTP/1.1 400 ") and b'"code":3001' in data, data[:300]


def test_options_and_a_double_slash_get_no_html_and_no_redirect(one: Served) -> None:
    reply = requests.options(f"{one.url}/v1/messages", timeout=5)
    assert reply.status_code == 200 and "POST" in reply.headers["Allow"] and "html" not in reply.headers.get(
        "Content-Type", "")
    reply = requests.post(f"{one.url}/v1//messages", headers={**AUTH, "Host": "evil.example"}, json={},
                          allow_redirects=False, timeout=5)
    assert reply.status_code == 404 and "Location" not in reply.headers and reply.json()["code"] == 404


# -- the control plane reached from another machine -------------------------------------------------

def test_listening_beyond_loopback_needs_the_printed_token() -> None:
    with served("--host", "0.0.0.0") as server:
        printed = "\n".join(server.banner)
        found = re.search(r"Control token \(made up for this run; set one with --control-token\): (\S+)", printed)
        assert found, printed
        token = found.group(1)
        sent = send_otp(server.url, "+6591234567").json()["message_id"]
        reply = requests.get(f"{server.url}/_mock/messages", timeout=5)
        assert reply.status_code == 401 and reply.json()["code"] == 401 and "token" in reply.json()["message"]
        assert requests.get(f"{server.url}/_mock/messages/latest?to=%2B6591234567", timeout=5).status_code == 401
        assert requests.post(f"{server.url}/_mock/reset", json={}, timeout=5).status_code == 401
        assert requests.get(f"{server.url}/_mock/health", timeout=5).status_code == 200  # public
        good = requests.get(f"{server.url}/_mock/messages/{sent}", headers={"Authorization": f"Bearer {token}"},
                            timeout=5)
        assert good.status_code == 200 and good.json()["code"]
        port = server.url.rsplit(":", 1)[1]
        assert requests.get(f"{server.url}/_mock/messages", cookies={f"otp_mock_token_{port}": cookie_value(token)},
                            timeout=5).status_code == 200
        browser = {"Accept": "text/html"}
        refused = requests.get(f"{server.url}/", headers=browser, timeout=5)  # the console
        assert refused.status_code == 401 and sent not in refused.text and "/?token=TOKEN" in refused.text
        with requests.Session() as tab:  # the printed address, as a browser opens it
            opened = tab.get(f"{server.url}/?token={token}", headers=browser, timeout=5)
            assert opened.status_code == 200 and sent in opened.text and opened.history[0].status_code == 303
            assert "token=" not in opened.url
        code, out, err = server.stop()
    assert "WARNING: listening on 0.0.0.0" in err and code == 0


def test_a_token_set_by_the_user_is_never_printed() -> None:
    with served("--host", "0.0.0.0", "--control-token", "my-own-token-123") as server:
        printed = "\n".join(server.banner)
        assert "Control token: the one set with --control-token" in printed and "my-own-token-123" not in printed
        assert requests.get(f"{server.url}/_mock/messages", headers={"Authorization": "Bearer my-own-token-123"},
                            timeout=5).status_code == 200


def test_dns_rebinding_and_cross_site_forms_are_refused_on_the_served_mock(one: Served) -> None:
    sent = send_otp(one.url, "+6591234000").json()["message_id"]
    reply = requests.get(f"{one.url}/_mock/messages/{sent}", headers={"Host": "evil.example"}, timeout=5)
    assert reply.status_code == 403 and reply.json()["code"] == 403
    form = requests.post(f"{one.url}/_mock/reset", data=b"",
                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                  "Origin": "https://evil.example"}, timeout=5)
    assert form.status_code == 400
    cross = requests.post(f"{one.url}/_mock/reset", json={}, headers={"Origin": "https://evil.example"}, timeout=5)
    assert cross.status_code == 403
    assert requests.get(f"{one.url}/_mock/messages/{sent}", timeout=5).status_code == 200  # still there


# -- a store that fails under a running mock --------------------------------------------------------

def _shutdown_redis(url: str) -> None:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"SHUTDOWN NOSAVE\r\n")
        conn.recv(64)


def _wait_for(check: Any, seconds: float = 10) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "two-workers"])
def test_redis_down_is_1000_and_health_503_and_the_mock_recovers(workers: list[str], tmp_path: Path) -> None:
    with redis_server(tmp_path) as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with served("--store", url, *workers) as server:
            assert send_otp(server.url, "+6591000001").status_code == 200
            _shutdown_redis(url)
            for n in range(6):  # every worker, whichever takes the request
                reply = send_otp(server.url, f"+659100001{n}")
                assert reply.status_code == 500 and reply.json()["code"] == 1000, reply.text
                assert "store unavailable" in reply.json()["message"] and "bug" not in reply.json()["message"]
                health = requests.get(f"{server.url}/_mock/health", timeout=10)
                assert health.status_code == 503 and health.json()["code"] == 503
            with redis_server(tmp_path, port=port):
                numbers = iter(range(10_000))
                assert _wait_for(lambda: all(send_otp(server.url, f"+6591002{next(numbers):04d}").status_code == 200
                                             for _ in range(4)), 15)
                assert requests.get(f"{server.url}/_mock/health", timeout=5).status_code == 200
                verified = send_otp(server.url, "+6591000300").json()["message_id"]
                code = requests.get(f"{server.url}/_mock/messages/{verified}", timeout=5).json()["code"]
                check = requests.post(f"{server.url}/v1/verifications", headers=AUTH, timeout=5,
                                      json={"message_id": verified, "verify_code": code}).json()
                assert check["verified"] is True


def test_a_deleted_sqlite_file_is_503_on_every_worker(tmp_path: Path) -> None:
    db = tmp_path / "gone.db"
    with served("--store", f"sqlite:{db}", "--workers", "2") as server:
        assert send_otp(server.url, "+6591000001").status_code == 200
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        time.sleep(2.5)  # housekeeping (every housekeeping_seconds) notices in every worker
        for n in range(10):
            health = requests.get(f"{server.url}/_mock/health", timeout=5)
            assert health.status_code == 503 and "deleted or replaced" in health.json()["message"]
            reply = send_otp(server.url, f"+659100010{n}")
            assert reply.status_code == 500 and reply.json()["code"] == 1000, reply.text
            assert "deleted or replaced" in reply.json()["message"]
        assert not db.exists()  # no worker made a new, empty file


def test_workers_exit_when_their_master_is_killed(tmp_path: Path) -> None:
    server = Served("--store", f"sqlite:{tmp_path / 'm.db'}", "--workers", "2")
    workers = server.pids()[1:]
    assert len(workers) == 2
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)

    def gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid) for pid in workers)

    try:
        assert _wait_for(gone, 10), [(pid, _state(pid)) for pid in workers]
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{server.url}/_mock/health", timeout=2)
    finally:
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        server.process.communicate(timeout=10)  # closes its pipes


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "gone"
