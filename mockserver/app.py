"""The app factory: wires settings, contract, keys, store, service and blueprints.

    >>> app = create_app({"seed": 7})
    >>> app.test_client().get("/_mock/health").status_code
    200
"""

from __future__ import annotations

import difflib
import logging
import random
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from mockserver import yamlsafe
from mockserver.auth import KeyRing
from mockserver.config import Settings
from mockserver.contract import Contract
from mockserver.errors import ConfigError
from mockserver.journal import Journal
from mockserver.otp.clock import Clock, SystemClock
from mockserver.otp.model import Template
from mockserver.otp.service import OtpPolicy, OtpService
from mockserver.otp.templates import new_template
from mockserver.pipeline import Interceptor, Pipeline
from mockserver.scenarios.engine import ScenarioEngine
from mockserver.scenarios.library import Library
from mockserver.store import Store, open_store
from mockserver.web import admin, api

DATA = Path(__file__).parent / "data"
log = logging.getLogger("mockserver")


def create_app(
    config: Settings | Mapping[str, Any] | None = None,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    interceptor: Interceptor | None = None,
) -> Flask:
    """A Flask app serving the mock. `config` is a Settings or a mapping of setting names."""
    settings = config if isinstance(config, Settings) else Settings.from_mapping(config or {})
    contract = Contract.load(settings.spec_path)
    # A seeded run is for replaying tests; unseeded codes come from the OS's CSPRNG.
    rng = random.Random(settings.seed) if settings.seed is not None else secrets.SystemRandom()  # noqa: S311
    policy = OtpPolicy(
        max_verify_attempts=settings.max_verify_attempts,
        resend_guard=settings.resend_guard,
        template_review=settings.template_review,
        verify_custom_codes=settings.verify_custom_codes,
        starting_templates=load_templates(contract, settings.templates_file),
    )
    _check_operations("resend_guard", settings.resend_guard, contract)
    store = store or open_store(settings.store, settings.retention_seconds, settings.max_messages,
                                settings.max_tenants)
    service = OtpService(store, clock or SystemClock(), rng, policy)
    engine = scenario_engine(settings, contract, service)
    pipeline = Pipeline(contract, KeyRing.load(settings.keys_file), service,
                        Journal(store.request_log(settings.journal_size)), settings.validate_responses,
                        settings.max_json_depth, interceptor or engine, settings.validate_requests)

    app = Flask("mockserver")
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, OTP_MOCK_SETTINGS=settings,
                      JSON_SORT_KEYS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["otp_mock"] = pipeline
    app.extensions["otp_mock_scenarios"] = engine
    app.register_blueprint(api.blueprint(pipeline, settings.hang_seconds))
    app.register_blueprint(admin.blueprint(pipeline, _admin_spec(), time.time(), engine))
    admin.register_errors(app)
    _register_http_errors(app, contract)
    return app


def _check_operations(setting: str, names: tuple[str, ...], contract: Contract) -> None:
    for name in names:
        if name not in contract.by_id:
            close = difflib.get_close_matches(name, list(contract.by_id), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; use {', '.join(contract.by_id)}"
            raise ConfigError(f"setting {setting}: unknown operation {name!r}{hint}")


def scenarios_folder(settings: Settings) -> Path:
    """The scenario folder: `scenarios_dir`, or the library shipped with the kit."""
    return Path(settings.scenarios_dir) if settings.scenarios_dir else DATA / "scenarios"


def scenario_engine(settings: Settings, contract: Contract, service: OtpService) -> ScenarioEngine:
    """The engine over the scenario folder; the active scenario must exist and load cleanly."""
    folder = scenarios_folder(settings)
    if not folder.is_dir():
        raise ConfigError(f"scenarios_dir {folder}: not a folder")
    library = Library(folder, contract)
    if settings.scenario is not None and library.get(settings.scenario) is None:
        problems = "; ".join(e.message for e in library.errors.values())
        known = ", ".join(sorted(library.scenarios)) or "none"
        raise ConfigError(f"scenario {settings.scenario!r} is not in {folder} (known: {known})"
                          + (f"; errors: {problems}" if problems else ""))
    return ScenarioEngine(library, service, settings.seed, settings.magic_values, settings.scenario,
                          settings.max_delay_seconds)


def load_templates(contract: Contract, path: str | None) -> tuple[Template, ...]:
    """The starting templates, each checked against the create_template schema."""
    source = Path(path) if path else DATA / "default-templates.yaml"
    rows = yamlsafe.read(source, "starting templates") or []
    if not isinstance(rows, list):
        raise ConfigError(f"{source}: expected a list of templates in create_template's format")
    operation = contract.by_id["create_template"]
    found = []
    for index, row in enumerate(rows):
        try:
            operation.check_body(row)
            found.append(new_template(row, time.time(), "approve"))
        except Exception as exc:  # ApiError carries the rule that failed
            raise ConfigError(f"{source}: template [{index}] is not a valid create_template body: {exc}") from None
    return tuple(found)


def _admin_spec() -> dict[str, Any]:
    return dict(yamlsafe.read(DATA / "admin-openapi.yaml", "control-plane document"))


def _register_http_errors(app: Flask, contract: Contract) -> None:
    """Routing errors in the API's envelope shape, keeping Werkzeug's headers (Allow on 405)."""
    known = sorted({f"{op.method} {op.path}" for op in contract.operations})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> BaseResponse:
        response = exc.get_response()
        message = exc.description or exc.name
        if exc.code == 404:
            message = f"no operation {request.method} {request.path}; the API has: {', '.join(known)}"
        elif exc.code == 405:
            allowed = response.headers.get("Allow", "")
            message = f"method {request.method} is not allowed on {request.path}; allowed: {allowed}"
        response.set_data(app.json.dumps({"code": exc.code, "message": message}))
        response.content_type = "application/json"
        return response
