"""Realistic positive data: existing templates, fictional phone numbers, this run's template prefix.

Applied by a `map_case` hook to POSITIVE cases only: negative cases must stay invalid, or
`negative_data_rejection` would report valid requests as accepted invalid ones. Choices are a
hash of the generated values, so Hypothesis still steers them and a seed replays them.
"""

from __future__ import annotations

import copy
import re
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from schemathesis import GenerationMode

from otp_mock_contracts.safety import SEND_OPERATIONS, operation_id

if TYPE_CHECKING:
    from schemathesis import Case
    from schemathesis.hooks import HookContext

T = TypeVar("T")
# Ofcom's fictional mobile range 07700 900000..999. The US range 202-555-01xx is fictional too, but
# the mock's magic values live there (+12025550100 always fails with 1000, ...), so it is not used.
# 07700 900900..999 are left to the explicit tests, so generated sends never hit their 3004 window.
FICTIONAL_PHONES = tuple(f"+447700900{n:03d}" for n in range(0, 900))
BEHAVIOUR_PHONES = tuple(f"+447700900{n:03d}" for n in range(900, 1000))
MOCK_SEND_TEMPLATES = ("test-template-1", "sms-default", "whatsapp-default", "voice-default",
                       "whatsapp-sms-voice", "email-default")
MOCK_MESSAGE_TEMPLATES = ("notification-template", "marketing-template", "test-template-1")
EMAIL_TEMPLATES = frozenset({"email-default"})
AUTHENTICATION_TEMPLATES = frozenset({"test-template-1"})
_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")
TEMPLATE_BODIES: tuple[dict[str, Any], ...] = (
    {"description": "Contract run: SMS with custom authentication content", "send_channel_strategy": "sms",
     "brand_name": "Acme", "verify_code_config": {"verify_code_type": 1, "verify_code_len": 6, "verify_code_ttl": 5},
     "sms_config": {"template_type": 2, "template_custom_config": {
         "custom_sub_type": "authentication", "custom_content": "[{{brand_name}}] Your code is {{code}}."}}},
    {"description": "Contract run: WhatsApp then SMS", "send_channel_strategy": "whatsapp|sms",
     "brand_name": "Acme", "verify_code_config": {"verify_code_type": 1, "verify_code_len": 6, "verify_code_ttl": 1},
     "whatsapp_config": {"template_type": 1, "template_default_config": {"contain_security": False}},
     "sms_config": {"template_type": 1, "template_default_config": {"contain_expire": True}}},
    {"send_channel_strategy": "email", "verify_code_config": {"verify_code_type": 5, "verify_code_len": 8,
                                                              "verify_code_ttl": 10},
     "email_config": {"template_name": "Login code", "template_custom_configs": [
         {"language": "default", "pre_from_mail": "noreply@example.com", "pre_subject": "Your code",
          "template_content": "<p>Your code is <b>{{code}}</b>.</p>"}]}},
)


def pick(options: Sequence[T], *seeds: object) -> T:
    return options[zlib.crc32(repr(seeds).encode("utf-8", "backslashreplace")) % len(options)]


def prefixed(prefix: str, generated: object) -> str:
    """This run's prefix plus a tame, bounded form of a generated id."""
    tail = _SAFE_ID.sub("", str(generated))[: 128 - len(prefix)] or f"{zlib.crc32(repr(generated).encode()):x}"
    return prefix + tail


def _linked(case: Case[Any]) -> bool:
    """Stateful steps take ids from earlier responses (links); those must not be replaced."""
    return case.meta is not None and case.meta.phase.name.value == "stateful"


class RealisticData:
    """Turns generated positive cases into requests the target can act on."""

    def __init__(self, is_mock: bool, recipients: Sequence[str], template_id: str, prefix: str) -> None:
        self.is_mock = is_mock
        self.prefix = prefix
        # On the mock: fictional numbers and the starting templates. Elsewhere: only what was allowed.
        self.phones = FICTIONAL_PHONES if is_mock else tuple(r for r in recipients if "@" not in r)
        self.emails = tuple(f"user{n}@example.com" for n in range(100)) if is_mock else tuple(
            r for r in recipients if "@" in r)
        self.send_templates = MOCK_SEND_TEMPLATES if is_mock else (template_id,)
        self.message_templates = MOCK_MESSAGE_TEMPLATES if is_mock else (template_id,)

    def map_case(self, context: HookContext, case: Case[Any]) -> Case[Any]:
        if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
            return case
        op = operation_id(case.operation)
        if op in SEND_OPERATIONS and isinstance(case.body, dict):
            self._send(op, case.body)
        elif op == "create_template" and isinstance(case.body, dict):
            case.body = self._template(case.body)
        elif op in ("get_template", "delete_template") and case.path_parameters and not _linked(case):
            self._template_path(op, case.path_parameters)
        return case

    def _send(self, op: str, body: dict[str, Any]) -> None:
        template = body.get("template")
        if not isinstance(template, dict):
            return
        generated = template.get("id")
        # On the mock one case in eight keeps its generated template, to exercise 4001.
        if not self.is_mock or pick(range(8), generated) != 0:
            choices = self.message_templates if op == "send_custom_message" else self.send_templates
            template["id"] = pick(choices, generated, op)
        pool = self.emails if template.get("id") in EMAIL_TEMPLATES else self.phones
        if not pool:
            return  # nothing allowed: the guard will refuse this send
        to = body.get("to")
        if isinstance(to, list):
            body["to"] = [pick(pool, item, index) for index, item in enumerate(to[:3])] or [pool[0]]
        else:
            body["to"] = pick(pool, to)
        if op == "send_custom_message" and template["id"] in AUTHENTICATION_TEMPLATES and self.is_mock:
            params = template.get("params")
            template["params"] = {**(params if isinstance(params, dict) else {}), "code": "123456"}

    def _template_path(self, op: str, params: dict[str, Any]) -> None:
        generated = params.get("templateId")
        if op == "get_template" and self.is_mock and pick(range(4), generated) != 0:
            params["templateId"] = pick(MOCK_SEND_TEMPLATES + MOCK_MESSAGE_TEMPLATES, generated)
        elif op == "delete_template" and not self.is_mock:
            params["templateId"] = prefixed(self.prefix, generated)  # the guard deletes nothing else
        elif op == "delete_template" and pick(range(2), generated) == 0:
            # The mock's key is this run's own: deleting a starting template reaches the 200 path.
            params["templateId"] = pick(MOCK_SEND_TEMPLATES + MOCK_MESSAGE_TEMPLATES, generated)

    def _template(self, body: dict[str, Any]) -> dict[str, Any]:
        generated = body.get("template_id")
        # Three cases in four become a template the target accepts, so get/delete links have work.
        if pick(range(4), generated) != 0:
            body = copy.deepcopy(pick(TEMPLATE_BODIES, generated))
        body["template_id"] = prefixed(self.prefix, generated)
        return body
