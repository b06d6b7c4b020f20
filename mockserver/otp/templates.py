"""Template rules: creation checks beyond the schema, summaries, details and message content."""

from __future__ import annotations

import math
from typing import Any

from mockserver.errors import ApiError
from mockserver.otp.model import APPROVED, PENDING, Template
from mockserver.otp.styles import default_text

CHANNEL_CONFIG = {
    "whatsapp": "whatsapp_config",
    "sms": "sms_config",
    "voice": "voice_config",
    "email": "email_config",
}
_SUMMARY_FIELDS = ("template_id", "description", "send_channel_strategy", "brand_name",
                   "verify_code_config", "pwa_config")


def new_template(body: dict[str, Any], now: float, review: str) -> Template:
    """A template from a create body that already passed the contract's schema.

    The schema checks types, ranges, the strategy's syntax and that each channel has its
    config; what remains is the one rule a schema cannot say: each channel appears once.
    """
    strategy = str(body["send_channel_strategy"]).split("|")
    repeated = sorted({c for c in strategy if strategy.count(c) > 1})
    if repeated:
        raise ApiError(3003, f"send_channel_strategy: channel {repeated[0]!r} appears more than once")
    status = PENDING if review == "pending" else APPROVED
    return Template(str(body["template_id"]), dict(body), int(now), status)


def summary(template: Template) -> dict[str, Any]:
    """The list view: the documented fields, channel contents left out."""
    body = template.body
    out: dict[str, Any] = {k: body[k] for k in _SUMMARY_FIELDS if k in body}
    for channel in template.strategy:
        key = CHANNEL_CONFIG[channel]
        if key in body:
            out[key] = _channel_summary(channel, body[key])
            if channel == "sms":
                out[key]["template_parts"] = sms_parts(template)
    out.update(_meta(template))
    return out


def detail(template: Template) -> dict[str, Any]:
    """The detail view: the summary plus the full content of each configured channel."""
    out = summary(template)
    for key in CHANNEL_CONFIG.values():
        if key in template.body:
            full = dict(template.body[key])
            if key == "sms_config":
                full["template_parts"] = sms_parts(template)
            out[key] = full
    return out


def _meta(template: Template) -> dict[str, Any]:
    return {"created_time": template.created_time, "status": template.status,
            "audit_remark": template.audit_remark}


def _channel_summary(channel: str, config: dict[str, Any]) -> dict[str, Any]:
    if channel == "email":
        return {"template_name": config.get("template_name", "")}
    return {"template_type": config.get("template_type", 1)}


def sms_parts(template: Template) -> int:
    """Billable SMS parts of the template's SMS text: 160/153 GSM characters, 70/67 in UCS-2."""
    text = content(template, "sms", "default")[0]
    single, multi = (160, 153) if text.isascii() else (70, 67)
    return 1 if len(text) <= single else math.ceil(len(text) / multi)


def content(template: Template, channel: str, language: str) -> tuple[str, str | None]:
    """The raw text (and email subject) a channel delivers, before variables are filled.

    An email template without content for the language falls back to `default`, then to the
    first content it has (unknown on the real API; documented in the README).
    """
    config = template.body.get(CHANNEL_CONFIG[channel]) or {}
    if channel == "email":
        return _email_content(config, language)
    if channel == "sms" and config.get("template_type") == 2:
        custom = config.get("template_custom_config") or {}
        return str(custom.get("custom_content", "")), None
    options = config.get("template_default_config") or {}
    text = default_text(language, bool(options.get("contain_security")),
                        bool(options.get("contain_expire")))
    return text, None


def _email_entry(config: dict[str, Any], language: str) -> dict[str, Any] | None:
    """The email content for a language: that language, else `default`, else the first."""
    contents = config.get("template_custom_configs") or []
    by_language = {c.get("language"): c for c in contents}
    return by_language.get(language) or by_language.get("default") or (contents[0] if contents else None)


def _email_content(config: dict[str, Any], language: str) -> tuple[str, str | None]:
    chosen = _email_entry(config, language)
    if chosen is None:
        return default_text(language, False, True), config.get("template_name")
    return str(chosen.get("template_content", "")), chosen.get("pre_subject")


def preset_params(template: Template, channel: str, language: str) -> dict[str, str]:
    """Variables the template fills itself: brand, ttl, PWA url and email defaults."""
    values = {"brand_name": str(template.body.get("brand_name", ""))}
    if template.ttl_minutes is not None:
        values["ttl"] = str(template.ttl_minutes)
    pwa = template.body.get("pwa_config") or {}
    if pwa.get("pwa_code"):
        values["pwa_url"] = f"https://pwa.example.com/{pwa.get('pwa_platform', '')}/{pwa['pwa_code']}"
    if channel == "email":
        chosen = _email_entry(template.body.get("email_config") or {}, language) or {}
        for key, value in (chosen.get("pre_param_map") or {}).items():
            values.setdefault(key, str(value))
    return values


def is_authentication(template: Template) -> bool:
    """Whether the template's custom SMS content is a verification-code (authentication) text."""
    sms = template.body.get("sms_config") or {}
    custom = sms.get("template_custom_config") or {}
    return sms.get("template_type") == 2 and custom.get("custom_sub_type") == "authentication"
