"""The pytest plugin, seen from pytest runs of their own: it loads nothing heavy until a fixture
is used, `-p no:otp_mock` turns it off, the example user tests pass unchanged over real HTTP
(`--otp-mock-target=server`), and tests never see each other's state, also under `pytest -n 4`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import requests

from mockserver.testing import serve_in_thread

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "tests" / "example_client"
HEAVY = ("flask", "werkzeug", "waitress", "responses", "requests", "httpx", "schemathesis", "jsonschema_rs")
PHONE = "+6591234567"


def pytest_run(folder: Path, *args: str, autoload: bool = False) -> subprocess.CompletedProcess[str]:
    """pytest in its own process, in `folder` (a project with its own pytest.ini). Without
    `autoload`, only this plugin (and xdist) are loaded: the other plugins of this venv
    (schemathesis, hypothesis, Faker, anyio) cost seconds per run on this machine."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "OTP_MOCK_"))}
    plugins = [] if autoload else ["-p", "mockserver.testing.plugin", "-p", "xdist.plugin"]
    if not autoload:
        environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugins, *args],
                          capture_output=True, text=True, timeout=300, cwd=folder, env=environ)


def passed(run: subprocess.CompletedProcess[str]) -> int:
    found = re.search(r"(\d+) passed", run.stdout)
    assert run.returncode == 0 and found, run.stdout[-3000:] + run.stderr[-2000:]
    return int(found.group(1))


def project(tmp_path: Path, tests: str) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n", encoding="utf-8")
    (tmp_path / "test_user.py").write_text(textwrap.dedent(tests), encoding="utf-8")
    return tmp_path


def test_importing_the_plugin_loads_nothing_heavy() -> None:
    code = f"""
        import sys, mockserver.testing.plugin, mockserver.testing
        print(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r} or m.startswith("mockserver.")))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "['mockserver.lazy', 'mockserver.testing', 'mockserver.testing.plugin']", done.stderr


def test_the_plugin_loads_the_mock_only_when_a_fixture_is_used(tmp_path: Path) -> None:
    folder = project(tmp_path, f"""
        import sys

        def loaded():
            return sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r} or m == "mockserver.mock")

        def test_a_test_without_the_fixtures():
            assert loaded() == []

        def test_a_test_with_one(otp_mock):
            assert "mockserver.mock" in loaded() and "flask" not in loaded()
    """)
    assert passed(pytest_run(folder)) == 2


def test_the_entry_point_registers_it_and_no_otp_mock_turns_it_off(tmp_path: Path) -> None:
    folder = project(tmp_path, """
        def test_uses_it(otp_mock):
            assert otp_mock.messages() == []
    """)
    assert passed(pytest_run(folder, autoload=True)) == 1  # found through pytest11 alone
    off = pytest_run(folder, "-p", "no:otp_mock", autoload=True)
    assert off.returncode != 0 and "fixture 'otp_mock' not found" in off.stdout, off.stdout[-2000:]


def test_the_example_tests_pass_unchanged_over_real_http() -> None:
    """The user's test files, run as their own project, in-process then with the served mock."""
    in_process = pytest_run(EXAMPLE)
    served = pytest_run(EXAMPLE, "-v", "--otp-mock-target=server", "--otp-mock-seed=4")
    assert passed(served) == passed(in_process) >= 30
    assert "otp-mock: target=server, seed=4" in served.stdout


SERVED_TESTS = """
    import json, os, time, urllib.error, urllib.request
    import pytest, requests
    from mockserver.testing import NotInProcess

    PHONE = {phone!r}
    SEND = json.dumps({{"to": PHONE, "template": {{"id": "test-template-1"}}}}).encode()

    def post(key):
        request = urllib.request.Request(key.base_url + "/v1/messages", data=SEND, method="POST",
            headers={{"Authorization": key.authorization, "Content-Type": "application/json"}})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            with error:
                return error.code

    def record(key, **more):
        with open(os.path.join({results!r}, key.dev_key), "w") as out:
            json.dump({{"worker": os.environ.get("PYTEST_XDIST_WORKER"), "port": key.served.port,
                       "key": key.dev_key, "pid": os.getpid(), **more}}, out)

    @pytest.mark.parametrize("n", range(24))
    def test_served(otp_mock_server, otp_no_network, n):
        key = otp_mock_server
        if n % 3 == 0:
            key.use_scenario("outage")
        if n % 4 == 0:
            key.advance_clock(minutes=n)
        assert post(key) == (500 if n % 3 == 0 else 200)  # a 3004 would be another test's code
        assert [c.operation for c in key.calls] == ["send_otp"] and key.calls[0].dev_key == key.dev_key
        assert len(key.messages()) == (0 if n % 3 == 0 else 1)
        if n % 3:
            assert key.latest(PHONE).dev_key == key.dev_key and len(key.latest_code(PHONE)) >= 4
        offset = key.now() - time.time()
        assert abs(offset - (60.0 * n if n % 4 == 0 else 0.0)) < 5
        if {shared}:
            with pytest.raises(NotInProcess, match="another process"):
                key.mock
            with pytest.raises(NotInProcess, match="Prefer: code=1000"):
                key.fail_next(1000)
        key.reset()
        assert key.calls == [] and key.messages() == []
        assert post(key) == 200 and len(key.calls) == 1  # reset ends the key's scenario too
        record(key)

    @pytest.mark.otp_mock(max_verify_attempts=2)
    def test_with_settings_of_its_own(otp_mock_server):
        assert otp_mock_server.mock.settings.max_verify_attempts == 2  # a served mock of this worker
        record(otp_mock_server, own="settings")

    @pytest.mark.otp_mock(in_process=True)
    def test_in_a_served_mock_of_its_process(otp_mock_server):
        otp_mock_server.fail_next(1000)  # the testing face of this process shapes the request
        assert post(otp_mock_server) == 500 and otp_mock_server.mock.control.messages() == []
        record(otp_mock_server, own="in_process")

    @pytest.mark.parametrize("n", range(24))
    def test_in_process(otp_mock, n):
        answer = requests.post("https://otp.api.engagelab.cc/v1/messages", data=SEND, auth=("same", "key"),
                               headers={{"Content-Type": "application/json"}}, timeout=5)
        assert answer.status_code == 200 and len(otp_mock.messages()) == 1
"""


def served_project(tmp_path: Path, shared: bool) -> tuple[Path, Path]:
    results = tmp_path / "results"
    results.mkdir(parents=True)
    tests = SERVED_TESTS.format(phone=PHONE, results=str(results), shared=shared)
    return project(tmp_path / "project", tests), results


def records_of(results: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The records of the 24 tests on the shared mock, and those of the two with a served mock
    of their process (by why: "settings", "in_process")."""
    records = [json.loads(p.read_text()) for p in results.iterdir()]
    own = {r["own"]: r for r in records if r.get("own")}
    assert sorted(own) == ["in_process", "settings"]
    return [r for r in records if not r.get("own")], own


def test_tests_never_see_each_other_under_xdist(tmp_path: Path) -> None:
    """50 tests on 4 workers, 24 of them on ONE served mock for the session, sending to the same
    number, some with an outage or a moved clock of their own: none gets a 3004 or sees
    another's message, call, clock or scenario. A test with settings of its own, and one marked
    in_process=True, get a served mock of their worker."""
    folder, results = served_project(tmp_path, shared=True)
    run = pytest_run(folder, "-n", "4")
    assert passed(run) == 50
    records, own = records_of(results)
    workers = {r["worker"] for r in records}
    assert len(records) == 24 and len({r["key"] for r in records}) == 24 and len(workers) >= 2
    ports = {r["port"] for r in records}
    assert len(ports) == 1  # one server for all 24
    assert not ports & {r["port"] for r in own.values()}  # and one of their own for the other two


def test_otp_mock_url_uses_a_mock_that_runs_already(tmp_path: Path) -> None:
    """`--otp-mock-url` against `otp-mock serve --port 0` started apart: every served test,
    with and without xdist, uses it; the test with settings of its own gets one of its process."""
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", "--host", "127.0.0.1", "--port", "0"],
                                  stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        from mockserver.testing._shared import wait_for_url

        url = wait_for_url(str(log), 30)
        port = int(url.rsplit(":", 1)[1])
        for index, extra in enumerate(([], ["-n", "2"])):
            folder, results = served_project(tmp_path / f"run{index}", shared=True)
            assert passed(pytest_run(folder, f"--otp-mock-url={url}", *extra)) == 50
            records, own = records_of(results)
            assert {r["port"] for r in records} == {port} and port not in {r["port"] for r in own.values()}
        seen = requests.get(f"{url}/_mock/messages", params={"limit": 1000}, timeout=5).json()["messages"]
        assert seen == []  # every test reset its key
        assert server.poll() is None
    finally:
        server.terminate()
        server.wait(10)


def test_the_plugin_loads_without_xdist(tmp_path: Path) -> None:
    """`-p no:xdist`: no hook of xdist's is registered, and otp_mock_server serves in-process."""
    folder, results = served_project(tmp_path, shared=False)
    run = pytest_run(folder, "-p", "no:xdist", "-k", "not test_in_process")
    assert passed(run) == 26
    records, own = records_of(results)
    assert len({r["port"] for r in records}) == 1 and {r["pid"] for r in records} == {own["settings"]["pid"]}


def test_keys_used_at_once_on_one_served_mock_stay_apart() -> None:
    """What tests sharing one served mock do at the same time: eight clients, each with a key of
    its own, send to the same number and verify, concurrently."""
    with serve_in_thread() as served:
        keys = [served.new_key() for _ in range(8)]
        failures: list[str] = []

        def run(index: int) -> None:
            key = keys[index]
            with requests.Session() as http:
                http.auth = key.auth
                for _ in range(5):
                    sent = http.post(f"{key.base_url}/v1/messages", json={"to": PHONE, "template": {
                        "id": "test-template-1"}}, timeout=5).json()
                    checked = http.post(f"{key.base_url}/v1/verifications", timeout=5, json={
                        "message_id": sent["message_id"], "verify_code": key.latest_code(PHONE)}).json()
                    if not checked.get("verified"):
                        failures.append(f"{key.dev_key}: {sent} {checked}")
            if len(key.messages()) != 5 or len(key.calls) != 10:
                failures.append(f"{key.dev_key} sees {len(key.messages())} messages, {len(key.calls)} calls")

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(keys))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == [] and len(served.messages(limit=1000)) == 40
