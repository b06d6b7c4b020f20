"""The `otp-mock` command: serve the mock, check the configuration."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from typing import Any

import click

from mockserver.config import Settings
from mockserver.errors import MockError
from mockserver.textsafe import shown as printable

_SETTINGS_OPTIONS = [
    click.option("--settings", "settings_file", type=click.Path(dir_okay=False), help="YAML file of settings."),
    click.option("--keys-file", type=click.Path(dir_okay=False), help="YAML file of API keys (default: accept any)."),
    click.option("--templates-file", type=click.Path(dir_okay=False), help="YAML list of starting templates."),
    click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
                 help="Contract file (default: the packaged openapi.yaml)."),
    click.option("--seed", type=int, help="Seed for codes, so a run can be replayed."),
    click.option("--scenarios-dir", type=click.Path(file_okay=False), help="Folder of scenario files "
                 "(default: the library shipped with the kit)."),
    click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
                 help="Any setting, e.g. --set max_verify_attempts=3."),
]


class Failure(click.ClickException):
    """A setting, file, flag or port that does not work: one line saying which and how to fix
    it, exit status 2 (as for a bad command line), never a traceback."""

    exit_code = 2


def settings_options(func: Any) -> Any:
    for option in reversed(_SETTINGS_OPTIONS):
        func = option(func)
    return func


def session_settings_options(func: Any) -> Any:
    """The settings flags that make sense for a certification session (it brings its own keys
    file and scenario folder)."""
    for index in reversed((0, 2, 3, 4, 6)):  # --settings, --templates-file, --spec, --seed, --set
        func = _SETTINGS_OPTIONS[index](func)
    return func


def build_settings(settings_file: str | None, assignments: tuple[str, ...], **flags: Any) -> Settings:
    overrides: dict[str, Any] = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--set")
        overrides[name.strip()] = value
    overrides.update({k: v for k, v in flags.items() if v is not None and v != ()})
    return Settings.load(settings_file, overrides=overrides)


@click.group(epilog="Each command has flags of its own: `otp-mock serve --help` lists the serving flags "
                    "(--port, --seed, --scenario, --set NAME=VALUE ...), `otp-mock contract --help` the "
                    "contract run's, `otp-mock certify --help` a partner certification's.")
@click.version_option(package_name="otp-mock-kit")
def main() -> None:
    """A contract-driven mock of the EngageLab OTP API."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8090; 0 picks a free one).")
@click.option("--threads", type=int, default=None,
              help="Request threads: of the process (default 8), or of each worker with --workers (default 1).")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=1, show_default=True,
              help="Worker processes sharing the port; each takes a request only while it has a "
                   "free thread, one request per connection. With more than one and no --store, "
                   "state goes to SQLite in a temporary folder so the workers share it.")
@click.option("--store", default=None, help="memory (default), sqlite:PATH or redis://HOST:PORT/DB.")
@click.option("--scenario", default=None, help="Scenario active from the start (see `otp-mock scenarios`).")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="A Host name the control plane and console answer to, beyond loopback and --host (repeat it).")
@click.option("--control-token", default=None, metavar="TOKEN",
              help="The control plane's token (default: made up at start when --host is not loopback or a "
                   "keys file is given).")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="A browser origin that may call the API, e.g. http://localhost:5173 (repeat it; default: "
                   "any origin).")
@click.option("--no-cors", is_flag=True, default=False, help="No CORS headers on the API: browsers on other "
              "origins are blocked.")
@settings_options
def serve(workers: int, no_cors: bool, **options: Any) -> None:
    """Serve the mock with a production WSGI server (waitress; one per worker with --workers)."""
    from mockserver.web.server import waitress_server

    _log_through_a_queue()
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    logging.getLogger("waitress").setLevel(logging.WARNING)  # not "client disconnected" per request
    started = time.perf_counter()
    if no_cors:
        if options.get("cors_origins"):
            raise Failure("--no-cors and --cors-origin contradict each other; give one of them")
        options["cors_origins"] = ("off",)
    try:
        settings = build_settings(**options)
        if not settings.log_requests:  # warnings (rejected scenario files, mock bugs) still show
            logging.getLogger("mockserver").setLevel(logging.WARNING)
        if workers > 1:
            threads = options.get("threads") or settings.worker_threads  # --threads wins over the setting
            _serve_workers(settings.replace(threads=threads), workers, started)
            return
        app = _served_app(settings)
    except MockError as exc:
        raise Failure(str(exc)) from None
    try:
        server = waitress_server(app, settings)
    except OSError as exc:
        raise Failure(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}; "
                      "pick another --port (0 picks a free one)") from None
    base = f"http://{settings.host}:{server.effective_port}"
    click.echo(f"OTP mock serving the EngageLab OTP API at {base}", err=False)
    click.echo(f"Console: {base}/  (the inbox of sent codes; control plane: {base}/_mock/health)")
    _announce_access(settings, app.mock.control_token, base)
    click.echo(f"Ready in {time.perf_counter() - started:.2f}s. Press Ctrl-C to stop.")
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run()
    except (KeyboardInterrupt, OSError):
        pass
    finally:
        server.close()
        click.echo("OTP mock stopped.")


def _served_app(settings: Settings) -> Any:
    """The app as `otp-mock serve` runs it: a line per request through the cheap access log,
    and the global scenario taken from the command line."""
    from mockserver.accesslog import AccessLog
    from mockserver.app import create_app
    from mockserver.mock import OtpMock
    from mockserver.web import workers

    access = AccessLog() if settings.log_requests else None
    if access is not None:
        workers.AT_EXIT.append(access.flush)
    mock = OtpMock(settings, on_request=access.exchange if access is not None else None)
    mock.start()
    return create_app(mock=mock)


_LOGGING_FORKS: list[bool] = []


def _log_through_a_queue() -> None:
    """Request threads hand log records to a queue; one thread writes them, so a busy mock's
    threads never wait on the terminal (a measured ~40 % of throughput)."""
    import atexit
    import logging.handlers
    import queue

    # What the log lines never show, not gathered per record (the logging HOWTO's "Optimization")
    logging._srcfile = None  # no caller frame walk
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = logging.StreamHandler()
    writer.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    listener = logging.handlers.QueueListener(records, writer)
    handoff = logging.handlers.QueueHandler(records)
    handoff.setFormatter(logging.Formatter("%(message)s"))  # the writer adds time, level and name once
    logging.basicConfig(level=logging.INFO, handlers=[handoff], force=True)
    listener.start()
    atexit.register(listener.stop)
    from mockserver.web import workers

    workers.AT_EXIT.append(listener.stop)  # a worker leaves through os._exit: atexit never runs there
    if not _LOGGING_FORKS:  # a forked worker has no writer thread: it starts its own
        _LOGGING_FORKS.append(True)
        os.register_at_fork(after_in_child=_log_through_a_queue)


def _serve_workers(settings: Any, workers: int, started: float) -> None:
    import shutil

    from mockserver.web import workers as multi
    from mockserver.web.server import serve_on

    folder = _state_folder()
    if settings.store == "memory":  # workers share nothing else: give them a shared store
        settings = settings.replace(store=f"sqlite:{folder}/state.db")

    def announce(base: str) -> None:
        click.echo(f"OTP mock serving the EngageLab OTP API at {base} ({workers} workers, store "
                   f"{settings.store.split(':')[0]})")
        click.echo(f"Console: {base}/  (the inbox of sent codes; control plane: {base}/_mock/health)")
        _announce_access(settings, app.mock.control_token, base)
        click.echo(f"Ready in {time.perf_counter() - started:.2f}s. Press Ctrl-C to stop.")
        sys.stdout.flush()

    try:
        app = _served_app(settings)  # in the master: bad settings fail here, once; workers fork from it
        multi.run(settings, workers, app, announce, serve_on)
    finally:  # only the master comes back here: workers leave through os._exit
        shutil.rmtree(folder, ignore_errors=True)
        click.echo("OTP mock stopped.")


def _announce_access(settings: Settings, token: str | None, base: str) -> None:
    """Who may use the control plane: said at start, loudly when the port is reachable from
    other machines (the control plane reads every code and resets all state)."""
    from mockserver.access import is_loopback

    if not is_loopback(settings.host):
        click.echo(f"WARNING: listening on {settings.host}: anyone who reaches the port can use the API; the "
                   "control plane and the console need the token below.", err=True)
    if token is None:
        return
    if settings.control_token:  # the user's own secret: never echoed
        click.echo("Control token: the one set with --control-token (or control_token); send it as "
                   "'Authorization: Bearer TOKEN'")
        return
    click.echo(f"Control token (made up for this run; set one with --control-token): {token}")
    click.echo(f"  send it as 'Authorization: Bearer {token}', or open {base}/?token={token}")


def _state_folder() -> str:
    """A folder of this run's own for the workers' shared SQLite file, under the user's state
    folder ($XDG_STATE_HOME or ~/.local/state), which tmp cleaners leave alone (a file deleted
    under running workers makes them answer "store unavailable"); the system's temporary folder
    only when that cannot be written. Removed when the mock stops."""
    import tempfile
    from pathlib import Path

    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "otp-mock"
    try:
        base.mkdir(parents=True, exist_ok=True)
        return tempfile.mkdtemp(prefix=f"workers-{os.getpid()}-", dir=base)
    except OSError:
        return tempfile.mkdtemp(prefix="otp-mock-")


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt  # stop like Ctrl-C: leave the loop, close the sockets


@main.command()
@click.option("--forward-to", "forward_to", default=None, metavar="URL",
              help="Your receiver: each verified delivery is posted there as it came (body and headers).")
@click.option("--mock", "mock_url", default="http://127.0.0.1:8090", show_default=True,
              help="The running mock to listen to.")
@click.option("--dev-key", default=None, help="Only this dev_key's callbacks (default: everyone's).")
@click.option("--port", type=int, default=0, help="The listener's port on 127.0.0.1 (default: a free one).")
@click.option("--username", default="otp-mock-listen", show_default=True, help="The signature's username.")
@click.option("--secret", default=None, help="The signature's secret (default: made up, and printed).")
@click.option("--control-token", envvar="OTP_MOCK_CONTROL_TOKEN", default=None, metavar="TOKEN",
              help="The mock's control token, when it has one (or OTP_MOCK_CONTROL_TOKEN).")
@click.option("--replace", is_flag=True, default=False,
              help="Take the place of a callback configuration already there (it cannot be put back after: "
                   "the mock never shows its secret). Without it, listen refuses to replace one.")
def listen(forward_to: str | None, mock_url: str, dev_key: str | None, port: int, username: str,
           secret: str | None, control_token: str | None, replace: bool) -> None:
    """Receive a running mock's callbacks here: verify, print and forward each (like `stripe listen`)."""
    import threading

    from mockserver.callbacks.listen import Listener, ListenError

    try:
        listener = Listener(mock_url, forward_to, dev_key=dev_key, token=control_token, port=port,
                            username=username, secret=secret, out=lambda line: click.echo(line), replace=replace)
    except OSError as exc:
        raise Failure(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; pick another --port") from None
    except ListenError as exc:
        raise Failure(str(exc)) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=listener.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        shown = listener.register()
    except ListenError as exc:
        stop.set()
        thread.join(5)
        raise Failure(str(exc)) from None
    whose = f"dev_key {dev_key}'s" if dev_key else "everyone's"
    click.echo(f"Ready: {whose} callbacks of {mock_url} come to {listener.url}"
               + (f" and go on to {forward_to}" if forward_to else " (printed only: no --forward-to)"))
    secret_line = "the --secret you gave" if secret else listener.secret
    click.echo(f"Signature: username {username}, secret {secret_line} (verify with verify_callback_id)")
    probe = shown.get("probe") or {}
    click.echo(f"The mock's URL check: {'passed' if probe.get('ok') else probe.get('error') or 'skipped'}")
    click.echo("Press Ctrl-C to stop.")
    sys.stdout.flush()
    while thread.is_alive() and not stop.wait(0.2):
        sys.stdout.flush()
    try:
        removed = listener.unregister()
    except ListenError:
        removed = False
    thread.join(5)
    click.echo("Stopped; the callback configuration was removed." if removed else
               "Stopped; the callback configuration was not removed (the mock is down, or the configuration "
               "there is not this listener's any more).")


@main.command()
@settings_options
def check(**options: Any) -> None:
    """Validate the contract, settings, keys file, starting templates and every scenario file."""
    from mockserver.mock import OtpMock

    logging.getLogger("mockserver.scenarios").setLevel(logging.ERROR)  # check lists the rejected files itself, once
    try:
        settings = build_settings(**options)
        mock = OtpMock(settings)
    except MockError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(Failure.exit_code)
    library = mock.scenarios.library
    for error in library.errors.values():
        click.echo(f"error: {error.message}", err=True)
    if library.errors:
        sys.exit(Failure.exit_code)
    ops = len(mock.contract.operations)
    codes = len(mock.contract.errors)
    templates = len(mock.service.policy.starting_templates)
    keys = "any non-empty key" if mock.keys.keys is None else f"{len(mock.keys.keys)} key(s)"
    click.echo(f"ok: contract {mock.contract.source} ({ops} operations, {codes} error codes), "
               f"{templates} starting templates, auth: {keys}, {len(library.scenarios)} scenarios "
               f"in {library.folder}")


@main.command()
@settings_options
def scenarios(**options: Any) -> None:
    """List the scenarios with their descriptions, and the magic test values."""
    from mockserver.mock import OtpMock
    from mockserver.scenarios import magic

    try:
        library = OtpMock(build_settings(**options)).scenarios.library
    except MockError as exc:
        raise Failure(str(exc)) from None
    click.echo(f"Scenarios in {library.folder} (serve --scenario NAME, header X-Mock-Scenario: NAME,"
               " or PUT /_mock/scenario):\n")
    for scenario in sorted(library.scenarios.values(), key=lambda s: s.name):
        click.echo(f"  {scenario.name:<20} {' '.join(scenario.description.split())}")
    for error in library.errors.values():
        click.echo(f"  (not loaded) {error.message}")
    click.echo("\nMagic test values (active unless magic_values is false):\n")
    for row in magic.table():
        click.echo(f"  {' or '.join(row.recipients):<48} {row.outcome}")


@main.group(invoke_without_command=True)
@click.option("--partner", default=None, help="The partner's name, as the report shows it.")
@click.option("--profile", "profile", type=click.Path(dir_okay=False), default=None,
              help="Certification profile (default: the shipped scenarios/certification.yaml).")
@click.option("--run", "run", default=None, metavar="COMMAND",
              help="Run COMMAND with OTP_BASE_URL, OTP_DEV_KEY and OTP_DEV_SECRET in its environment, then end "
                   "(default: serve and wait for Ctrl-C or POST /_certify/end).")
@click.option("--report-dir", type=click.Path(file_okay=False), default=None,
              help="New or empty folder for the report (default: reports/certify/PARTNER-TIME).")
@click.option("--signing-key", type=click.Path(dir_okay=False), default=None,
              help="Ed25519 private key (PEM or OpenSSH) that signs the manifest.")
@click.option("--timeout", type=click.FloatRange(min=1, max=86400), default=600, show_default=True,
              help="Seconds the --run command may take before it is stopped.")
@click.option("--duration", type=click.FloatRange(min=1, max=86400), default=None,
              help="Serve mode: end the session after this many seconds.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0 picks a free one).")
@session_settings_options
@click.pass_context
def certify(ctx: click.Context, /, partner: str | None, profile: str | None, run: str | None, report_dir: str | None,
            signing_key: str | None, timeout: float, duration: float | None, port: int, **options: Any) -> None:
    """Certify a partner's integration: serve a session, judge its requests, write a report.

    Exit status 0 only when every requirement passed, 1 otherwise, 2 for a bad flag or file.
    `otp-mock certify verify REPORT_DIR` checks a report; `otp-mock certify keygen FILE` makes a key;
    `otp-mock certify profile` prints the standard profile.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not partner:
        raise click.UsageError("--partner NAME is required (or use `otp-mock certify verify REPORT_DIR`)")
    from pathlib import Path

    from mockserver.web.certify_run import Request
    from mockserver.web.certify_run import certify as run_session

    logging.getLogger("waitress").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, _interrupt)  # ends the session like Ctrl-C: the report is still written
    try:
        request = Request(partner, profile, run, Path(report_dir) if report_dir else None, signing_key, timeout,
                          duration, port, build_settings(**options))
        outcome = run_session(request, click.echo)
    except MockError as exc:
        raise Failure(str(exc)) from None
    _summarise(outcome.report, outcome.folder)
    sys.exit(outcome.exit_code)


def _summarise(report: dict[str, Any], folder: Any) -> None:
    summary = report["summary"]
    click.echo(f"Certification of {printable(report['partner'])}: {report['result']} ({summary['PASSED']} passed, "
               f"{summary['FAILED']} failed, {summary['WARNING']} warnings, {summary['SKIPPED']} skipped; "
               f"{summary['requests']} requests)")
    profile = report["profile"]
    click.echo(f"Profile: {printable(profile['id'])} {printable(profile['version'])}, {printable(profile['standing'])} "
               f"(SHA-256 {profile['sha256']})")
    for row in report["requirements"]:
        if row["result"] != "PASSED":
            click.echo(f"  {row['result']:<8} {printable(row['id'])}: {printable(row['reason'], 2000)}")
    click.echo(f"Report: {folder}/report.html (report.json, junit.xml, manifest.json)")


@certify.command("verify")
@click.argument("report_dir", type=click.Path(file_okay=False))
@click.option("--public-key", type=click.Path(dir_okay=False), default=None,
              help="The certifier's Ed25519 public key (PEM or ssh-ed25519): the signature must be its.")
@click.option("--integrity-only", is_flag=True, default=False,
              help="Check integrity only (no --public-key): exit 0 for an intact package, whoever made it.")
def certify_verify(report_dir: str, public_key: str | None, integrity_only: bool) -> None:
    """Check a report package offline: every file's SHA-256, the manifest, the signature, the expiry.

    Exit 0 only for an intact, unexpired package checked with --public-key (who signed it), or
    with --integrity-only (nothing changed since it was written, by whoever wrote it); 1 when a
    check fails; 2 without either flag, or for a bad flag or key."""
    from pathlib import Path

    from mockserver.certify.manifest import load_public_key, verify
    from mockserver.certify.profile import shipped_sha256

    if public_key and integrity_only:
        raise click.UsageError("give --public-key or --integrity-only, not both")
    try:
        key = load_public_key(public_key) if public_key else None
        shipped = shipped_sha256()
    except MockError as exc:
        raise Failure(str(exc)) from None
    if key is None:
        click.echo("WARNING: no --public-key: this checks integrity only (no file changed since the manifest was "
                   "written), not who made the package; anyone can write an intact package", err=True)
    problems, notes = verify(Path(report_dir), key, shipped_sha256=shipped)
    for problem in problems:
        click.echo(f"FAILED: {printable(problem, 500)}", err=True)
    for note in notes:
        click.echo(f"note: {printable(note, 500)}")
    if problems:
        sys.exit(1)
    if key is None and not integrity_only:
        click.echo(f"not verified: {printable(report_dir, 500)} is intact, but without --public-key who made it is "
                   "unknown; pass the certifier's --public-key, or --integrity-only to accept integrity alone",
                   err=True)
        sys.exit(Failure.exit_code)
    what = "intact and signed by the --public-key given" if key is not None else "intact (integrity only)"
    click.echo(f"ok: {printable(report_dir, 500)} is {what}: every file matches manifest.json")


@certify.command("profile")
@click.option("--path", "show_path", is_flag=True, default=False, help="Print the file's path instead of its text.")
def certify_profile(show_path: bool) -> None:
    """Print the shipped standard profile (engagelab-otp-standard), byte for byte: save it with
    `otp-mock certify profile > certification.yaml` to read it or to start a copy of your own."""
    from mockserver.certify.profile import SHIPPED
    from mockserver.yamlsafe import read_text

    if show_path:
        click.echo(str(SHIPPED))
        return
    try:
        text = read_text(SHIPPED, "certification profile")
    except MockError as exc:
        raise Failure(str(exc)) from None
    click.echo(text, nl=False)


@certify.command("keygen")
@click.argument("key_file", type=click.Path(dir_okay=False))
def certify_keygen(key_file: str) -> None:
    """Make an Ed25519 key pair for --signing-key: KEY_FILE (private, owner-only) and KEY_FILE.pub."""
    from pathlib import Path

    from mockserver.certify.manifest import new_key_files

    try:
        public = new_key_files(Path(key_file))
    except MockError as exc:
        raise Failure(str(exc)) from None
    click.echo(f"private key: {key_file} (keep it secret); public key: {public} (give it to whoever verifies)")


def _register_contract() -> None:
    from otp_mock_contracts.cli import contract  # light: loads schemathesis only when the command runs

    main.add_command(contract)


_register_contract()

if __name__ == "__main__":  # pragma: no cover
    main()
