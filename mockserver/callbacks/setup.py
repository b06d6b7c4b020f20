"""Callbacks as the settings describe them: the policy (targets, timeout, retries, batching),
everyone's configuration (`callback_url`, `callback_username`, `callback_secret`,
`callback_authorization`) and the dev_keys' own (`callbacks_file`: dev_key, or "*" for everyone,
to the fields of PUT /_mock/callbacks), and the contract's `webhooks` schemas as the check of a
triggered row. Pure."""

from __future__ import annotations

from typing import Any

from mockserver import yamlsafe
from mockserver.callbacks import targets
from mockserver.callbacks.config import CallbackConfig, parse_config
from mockserver.callbacks.rows import KINDS
from mockserver.callbacks.service import EVERYONE, CallbackPolicy, Callbacks
from mockserver.config import Settings, retry_schedule
from mockserver.contract import Contract
from mockserver.errors import ConfigError, ControlError
from mockserver.store.base import Store
from mockserver.validation import describe


def policy_of(settings: Settings) -> CallbackPolicy:
    return CallbackPolicy(settings.callback_targets, settings.callback_timeout_seconds,
                          retry_schedule(settings.callback_retry_seconds), settings.callback_batch_size,
                          settings.callback_linger_seconds, refused_ports=targets.store_ports(settings.store))


def configured(settings: Settings) -> dict[str, CallbackConfig]:
    """The configurations the settings give, by scope ("" for everyone's)."""
    found: dict[str, CallbackConfig] = {}
    if settings.callbacks_file:
        entries = yamlsafe.read(settings.callbacks_file, "callbacks file") or {}
        if not isinstance(entries, dict):
            raise ConfigError(f"{settings.callbacks_file}: expected a mapping of dev_key (or '*') to a callback")
        for key, body in entries.items():
            found[EVERYONE if key == "*" else str(key)] = _parsed(body, settings, f"{settings.callbacks_file}: {key}")
    if settings.callback_url:
        body = {"url": settings.callback_url, "username": settings.callback_username,
                "secret": settings.callback_secret, "authorization": settings.callback_authorization}
        found[EVERYONE] = _parsed({k: v for k, v in body.items() if v}, settings, "setting callback_url")
    elif settings.callback_username or settings.callback_secret:
        raise ConfigError("settings callback_username and callback_secret go with callback_url")
    return found


def _parsed(body: Any, settings: Settings, where: str) -> CallbackConfig:
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: expected a mapping with url (and username, secret, authorization, events)")
    try:
        return parse_config(body, settings.callback_targets, source="settings",
                            refused_ports=targets.store_ports(settings.store))
    except ControlError as error:
        raise ConfigError(f"{where}: {error.message}") from None


def callbacks(settings: Settings, store: Store, contract: Contract) -> Callbacks:
    validators = {kind: contract.validator(f"/components/schemas/{schema}") for kind, schema in KINDS.items()}

    def validate(kind: str, body: dict[str, Any]) -> list[str]:
        return [describe(e) for e in validators[kind].iter_errors(body)]

    errors = {code: info.message for code, info in contract.errors.items()}
    return Callbacks(store, policy_of(settings), errors, validate, configured(settings))
