"""Static checks of the contract openapi.yaml: validity, vendor compatibility, documentation
examples, the error catalogue, operations, links and webhooks. No server is started."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[1]
SPEC: dict[str, Any] = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
DOC_EXAMPLES: list[dict[str, Any]] = yaml.safe_load(
    (ROOT / "tests/data/doc_examples.yaml").read_text(encoding="utf-8"))
VENDOR_DIR = Path(__file__).parent / "data" / "vendor-openapi"  # verbatim copies, see SOURCE.md
VENDOR_FILES = ["custom-message-delivery.json", "custom-otp-code-delivery.json",
                "otp-delivery.json", "otp-verification.json", "template.json"]
VENDOR = {f: json.loads((VENDOR_DIR / f).read_text(encoding="utf-8"))
          for f in VENDOR_FILES if (VENDOR_DIR / f).is_file()}
URN = "urn:otp-contract"
REGISTRY = Registry().with_resource(URN, Resource.from_contents(SPEC, DRAFT202012))
CATALOGUE: dict[str, dict[str, Any]] = SPEC["x-error-codes"]
JSON = "application~1json"


def ptr(*tokens: object) -> str:
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


def at(doc: Any, pointer: str) -> Any:
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        doc = doc[int(token)] if isinstance(doc, list) else doc[token]
    return doc


def deref(pointer: str, doc: Any = SPEC) -> str:
    """Follow pure `$ref` objects (responses, examples, parameters) to their target pointer."""
    while isinstance(node := at(doc, pointer), dict) and "$ref" in node:
        pointer = node["$ref"].removeprefix("#")
    return pointer


OPS: dict[str, str] = {  # operationId -> pointer; webhook name -> pointer
    **{op["operationId"]: ptr("paths", p, m) for p, item in SPEC["paths"].items()
       for m, op in item.items() if m != "parameters"},
    **{name: ptr("webhooks", name, "post") for name in SPEC["webhooks"]}}
PATH_OPS = [k for k, v in OPS.items() if v.startswith("/paths/")]


def errors(schema_pointer: str, instance: Any) -> list[tuple[list[Any], str, str]]:
    """(instance path, keyword, message) of each error of `instance` against a schema of ours."""
    validator = Draft202012Validator({"$ref": f"{URN}#{schema_pointer}"}, registry=REGISTRY,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    found = [(list(e.absolute_path), str(e.validator), e.message)
             for e in validator.iter_errors(instance)]
    return sorted(found, key=str)


def body_schema(op_pointer: str, kind: str, status: int | str | None = None) -> str:
    where = "/requestBody" if kind == "request" else f"/responses/{status}"
    return deref(op_pointer + where) + f"/content/{JSON}/schema"


def conj(node: dict[str, Any]) -> list[dict[str, Any]]:
    """A schema plus everything else that applies to the same instance ($ref, allOf)."""
    out = [node] + (conj(at(SPEC, node["$ref"].removeprefix("#"))) if "$ref" in node else [])
    return out + [s for part in node.get("allOf", []) for s in conj(part)]


def child(nodes: list[dict[str, Any]], step: str) -> list[dict[str, Any]]:
    key = {"[]": "items", "{*}": "additionalProperties"}.get(step)
    subs = [n.get(key) if key else n.get("properties", {}).get(step) for n in nodes]
    return [s for sub in subs if isinstance(sub, dict) for s in conj(sub)]


def json_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object", type(None): "null"}[type(value)]


def types(nodes: list[dict[str, Any]]) -> set[str]:
    """The JSON types the conjunction of `nodes` admits (type, const, enum, oneOf, anyOf)."""
    allowed = {"null", "boolean", "object", "array", "number", "integer", "string"}
    for n in nodes:
        if "type" in n:
            allowed &= {n["type"]} if isinstance(n["type"], str) else set(n["type"])
        allowed &= {json_type(n["const"])} if "const" in n else allowed
        allowed &= {json_type(v) for v in n["enum"]} if "enum" in n else allowed
        for key in ("oneOf", "anyOf"):
            allowed &= set().union(*(types(conj(b)) for b in n[key])) if key in n else allowed
    return allowed


def named_examples(media_pointer: str) -> dict[str, Any]:
    names = at(SPEC, media_pointer).get("examples", {})
    return {n: at(SPEC, deref(f"{media_pointer}/examples{ptr(n)}"))["value"] for n in names}


def media_types() -> Iterator[tuple[str, str, str]]:
    """(operation, "request" or status, media type pointer) of every body, webhooks included."""
    for op_id, op_ptr in OPS.items():
        op = at(SPEC, op_ptr)
        for part in (["request"] if "requestBody" in op else []) + list(op["responses"]):
            base = deref(op_ptr + ("/requestBody" if part == "request" else f"/responses/{part}"))
            yield from ((op_id, part, f"{base}/content{ptr(m)}")
                        for m in at(SPEC, base).get("content", {}))


EX = {(op, part): named_examples(m) for op, part, m in media_types()}


def links(op_id: str) -> dict[str, Any]:
    return at(SPEC, deref(OPS[op_id] + "/responses/200")).get("links", {})


def test_spec_is_valid_openapi_3_1() -> None:
    assert SPEC["openapi"].startswith("3.1.")
    validate(SPEC, cls=OpenAPIV31SpecValidator)


# ---- vendor compatibility: at least as strict where EngageLab's files give a rule ----------

def walk_vendor(doc: dict[str, Any], schema: dict[str, Any],
                steps: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    schema = at(doc, deref(schema["$ref"].removeprefix("#"), doc)) if "$ref" in schema else schema
    yield steps, schema
    for name, sub in schema.get("properties", {}).items():
        yield from walk_vendor(doc, sub, (*steps, name))
    for step, key in (("[]", "items"), ("{*}", "additionalProperties")):
        if isinstance(schema.get(key), dict):
            yield from walk_vendor(doc, schema[key], (*steps, step))


def vendor_rules() -> Iterator[Any]:
    """One param per vendor rule: an operation, a required path parameter, a required field or
    a property type, in request bodies and in the bodies of every response status."""
    for fname, doc in VENDOR.items():
        for path, method, op in [(p, m, o) for p, i in doc["paths"].items() for m, o in i.items()]:
            where = f"{fname}:{method.upper()} {path}"
            yield pytest.param("operation", path, method, None, None, id=where)
            yield from (pytest.param("param", path, method, None, p, id=f"{where} {p['name']}")
                        for p in op.get("parameters", []) if p.get("required"))
            bodies = [("request", None, op["requestBody"])] if "requestBody" in op else []
            for kind, status, body in bodies + [("response", *r) for r in op["responses"].items()]:
                for steps, s in walk_vendor(doc, body["content"]["application/json"]["schema"]):
                    loc = (kind, status, steps)
                    label = " ".join(filter(None, (where, kind, status, ".".join(steps))))
                    yield from (pytest.param("required", path, method, loc, r, id=f"{label} +{r}")
                                for r in s.get("required", []))
                    if "type" in s:
                        yield pytest.param("type", path, method, loc, s["type"],
                                           id=f"{label}:{s['type']}")


# The one intentional widening: EngageLab's SDK and skill also send a list of recipients.
WIDENED = {("/v1/custom-messages", "request", ("to",)): {"string", "array"}}


def test_vendor_files_present() -> None:
    assert sorted(VENDOR) == VENDOR_FILES, f"vendor OpenAPI files missing in {VENDOR_DIR}"


@pytest.mark.parametrize(("rule", "path", "method", "loc", "value"), list(vendor_rules()))
def test_vendor_rule_holds_in_ours(rule: str, path: str, method: str, loc: Any, value: Any) -> None:
    assert method in SPEC["paths"].get(path, {}), f"{method.upper()} {path} missing"
    op_ptr = ptr("paths", path, method)
    if rule == "param":
        params = [at(SPEC, deref(f"{base}/parameters/{i}")) for base in (ptr("paths", path), op_ptr)
                  for i in range(len(at(SPEC, base).get("parameters", [])))]
        ours = [p for p in params if (p["name"], p["in"]) == (value["name"], value["in"])]
        assert len(ours) == 1 and ours[0]["required"] is True
        assert types(conj(ours[0]["schema"])) == {value["schema"]["type"]}
    elif rule != "operation":
        kind, status, steps = loc
        nodes = conj(at(SPEC, body_schema(op_ptr, kind, status)))
        for step in steps:
            nodes = child(nodes, step)
        assert nodes, f"ours does not declare {'.'.join(steps)}"
        if rule == "required":
            assert value in {r for n in nodes for r in n.get("required", [])}
        elif (path, kind, steps) in WIDENED:
            assert types(nodes) == WIDENED[path, kind, steps]
        else:  # the same type, or a stricter form of it (integer for number)
            stricter = {value, "integer"} if value == "number" else {value}
            assert types(nodes) and types(nodes) <= stricter, types(nodes)


# ---- documentation examples ----------------------------------------------------------------

def test_doc_examples_are_well_formed_and_cover_every_operation() -> None:
    assert len({e["name"] for e in DOC_EXAMPLES}) == len(DOC_EXAMPLES)
    for e in DOC_EXAMPLES:
        assert e["operation"] in OPS and e["kind"] in ("request", "response") and e["source"]
        assert ("status" in e) == (e["kind"] == "response")
        assert e.get("expect", "valid") in ("valid", "invalid")
    assert set(PATH_OPS) <= {e["operation"] for e in DOC_EXAMPLES}


@pytest.mark.parametrize("entry", [pytest.param(e, id=e["name"]) for e in DOC_EXAMPLES])
def test_doc_example_matches_contract(entry: dict[str, Any]) -> None:
    pointer = body_schema(OPS[entry["operation"]], entry["kind"], entry.get("status"))
    found = errors(deref(pointer) + entry.get("fragment", ""), entry["body"])
    if entry.get("expect") == "invalid":  # it must fail for exactly the documented reason
        assert entry["reason"]
        rule = entry["violates"]
        assert [(path, keyword) for path, keyword, _ in found] == [(rule["path"], rule["keyword"])]
    else:
        assert found == []


# Doc examples that the contract quotes as EngageLab's: `spec_example` in doc_examples.yaml.
@pytest.mark.parametrize("entry", [
    pytest.param(e, id=e["name"]) for e in DOC_EXAMPLES if "spec_example" in e])
def test_spec_example_quoting_engagelab_is_verbatim(entry: dict[str, Any]) -> None:
    part = "request" if entry["kind"] == "request" else str(entry["status"])
    assert EX[entry["operation"], part][entry["spec_example"]] == entry["body"]


# ---- error catalogue -----------------------------------------------------------------------

# The documented codes. Note: this list has 20 members, although the brief and the research
# reference (section 9, "Count") call it 19.
EXPECTED_STATUS = {"1000": 500, "2001": 401, "2002": 401, "2004": 403} | {
    c: 400 for c in ("3001", "3002", "3003", "3004", "4001", "5001", *map(str, range(5011, 5021)))}


def test_catalogue_and_error_code_list_exactly_the_documented_codes() -> None:
    assert len(EXPECTED_STATUS) == 20
    assert set(CATALOGUE) == set(EXPECTED_STATUS)
    error_code = SPEC["components"]["schemas"]["ErrorCode"]["oneOf"]
    assert sorted(b["const"] for b in error_code) == sorted(map(int, EXPECTED_STATUS))


@pytest.mark.parametrize(("code", "status"), sorted(EXPECTED_STATUS.items()))
def test_catalogue_entry(code: str, status: int) -> None:
    entry = CATALOGUE[code]
    assert entry["status"] == status and isinstance(entry["retryable"], bool)
    assert all(isinstance(entry[k], str) and entry[k] for k in ("name", "meaning", "message"))
    assert entry["operations"] and set(entry["operations"]) <= set(PATH_OPS)


@pytest.mark.parametrize("status", [400, 401, 403, 500])
def test_status_envelope_lists_exactly_its_codes(status: int) -> None:
    nodes = child(conj({"$ref": f"#/components/schemas/Error{status}"}), "code")
    assert {v for n in nodes for v in n.get("enum", [])} == {
        int(c) for c, s in EXPECTED_STATUS.items() if s == status}


@pytest.mark.parametrize(("code", "op_id"), [(c, op) for c, e in CATALOGUE.items()
                                             for op in e["operations"]])
def test_catalogued_code_has_valid_example_on_operation(code: str, op_id: str) -> None:
    status = CATALOGUE[code]["status"]
    values = [v for v in EX.get((op_id, str(status)), {}).values() if v["code"] == int(code)]
    assert values, f"{op_id} {status} has no named example with code {code}"
    assert all(errors(body_schema(OPS[op_id], "response", status), v) == [] for v in values)


@pytest.mark.parametrize(("op_id", "status", "value"), [
    pytest.param(op, int(part), v, id=f"{op}-{part}-{name}") for (op, part), exs in EX.items()
    if part.isdigit() and int(part) >= 400 for name, v in exs.items()])
def test_error_example_is_catalogued_for_operation(op_id: str, status: int, value: Any) -> None:
    entry = CATALOGUE[str(value["code"])]
    assert op_id in entry["operations"] and entry["status"] == status


def schema_examples(node: Any, pointer: str) -> Iterator[Any]:
    if isinstance(node, dict):
        yield from (pytest.param(pointer, ex, id=f"{pointer}={ex}")
                    for ex in (node["examples"] if isinstance(node.get("examples"), list) else []))
        for key, value in node.items():
            yield from schema_examples(value, f"{pointer}/{key}")


@pytest.mark.parametrize(("schema_pointer", "value"), [
    *(pytest.param(m.rsplit("/content/", 1)[0] + f"/content/{JSON}/schema", v,
                   id=f"{op}-{part}-{name}")
      for op, part, m in media_types() for name, v in named_examples(m).items()),
    *schema_examples(SPEC["components"]["schemas"], "/components/schemas"),
    *(pytest.param(f"/components/parameters/{n}/schema", p["example"], id=n)
      for n, p in SPEC["components"]["parameters"].items() if "example" in p)])
def test_every_example_validates(schema_pointer: str, value: Any) -> None:
    assert errors(schema_pointer, value) == []


def test_every_component_example_is_used() -> None:
    used = {s for s in json.dumps(SPEC).split('"') if s.startswith("#/components/examples/")}
    assert {f"#/components/examples/{n}" for n in SPEC["components"]["examples"]} == used


# ---- operations and links ------------------------------------------------------------------

EXPECTED_OPS = [("send_otp", "post", "/v1/messages"), ("send_custom_code", "post", "/v1/codes"),
                ("verify_otp", "post", "/v1/verifications"),
                ("send_custom_message", "post", "/v1/custom-messages"),
                ("create_template", "post", "/v1/template-configs"),
                ("list_templates", "get", "/v1/template-configs"),
                ("get_template", "get", "/v1/template-configs/{templateId}"),
                ("delete_template", "delete", "/v1/template-configs/{templateId}")]


def test_exactly_the_eight_operations() -> None:
    assert sorted(PATH_OPS) == sorted(op for op, _, _ in EXPECTED_OPS)
    scheme = SPEC["components"]["securitySchemes"]["BasicAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "basic")


@pytest.mark.parametrize(("op_id", "method", "path"), EXPECTED_OPS)
def test_operation_metadata(op_id: str, method: str, path: str) -> None:
    op = SPEC["paths"][path][method]
    assert op["operationId"] == op_id and op["summary"].strip() and op["description"].strip()
    assert op["tags"] and set(op["tags"]) <= {t["name"] for t in SPEC["tags"]}
    assert op["security"] == [{"BasicAuth": []}]


def test_send_otp_links_message_id_to_verify_otp() -> None:
    targets = [lk for lk in links("send_otp").values() if lk["operationId"] == "verify_otp"]
    assert [lk["requestBody"]["message_id"] for lk in targets] == ["$response.body#/message_id"]


@pytest.mark.parametrize("target", ["get_template", "delete_template"])
def test_create_template_links_template_id(target: str) -> None:
    targets = [lk for lk in links("create_template").values() if lk["operationId"] == target]
    assert [lk["parameters"] for lk in targets] == [{"templateId": "$request.body#/template_id"}]


@pytest.mark.parametrize("op_id", ["send_custom_code", "send_custom_message"])
def test_only_send_otp_links_to_verify_otp(op_id: str) -> None:
    assert all(lk["operationId"] != "verify_otp" for lk in links(op_id).values())


# ---- webhooks ------------------------------------------------------------------------------

WEBHOOKS = ["messageStatus", "notification", "messageResponse", "systemEvent"]


@pytest.mark.parametrize("name", WEBHOOKS)
def test_webhook_exists(name: str) -> None:
    op = SPEC["webhooks"][name]["post"]
    assert op["operationId"] and op["summary"] and op["tags"] and "200" in op["responses"]
    assert at(SPEC, body_schema(OPS[name], "request"))["$ref"].startswith("#/components/schemas/")


@pytest.mark.parametrize("name", WEBHOOKS)
def test_webhook_auth_is_modelled_as_callback_security(name: str) -> None:
    op = SPEC["webhooks"][name]["post"]
    assert "security" in op and {"BasicAuth": []} not in op["security"]
    params = [at(SPEC, deref(f"{OPS[name]}/parameters/{i}")) for i in range(len(op["parameters"]))]
    assert "authorization" not in {p["name"].lower() for p in params if p["in"] == "header"}


def test_message_status_enum_has_the_ten_documented_statuses() -> None:
    documented = {"plan", "target_valid", "target_invalid", "sent", "sent_failed", "delivered",
                  "delivered_failed", "verified", "verified_failed", "verified_timeout"}
    assert documented <= set(SPEC["components"]["schemas"]["MessageStatusValue"]["enum"])


def callback_id(secret: str, timestamp: str, nonce: str, username: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}{nonce}{username}".encode(), hashlib.sha256)
    return f"timestamp={timestamp};nonce={nonce};username={username};signature={digest.hexdigest()}"


HEADER = callback_id("s3cret", "1701234567", "123123123123", "otp-hook")


@pytest.mark.parametrize(("header", "accepted"), [
    pytest.param(HEADER, True, id="hmac-sha256-lowercase-hex"),
    pytest.param(HEADER[:-64] + HEADER[-64:].upper(), False, id="uppercase-signature"),
    pytest.param(HEADER[:-1], False, id="short-signature")])
def test_callback_id_pattern(header: str, accepted: bool) -> None:
    assert (errors("/components/parameters/CallbackId/schema", header) == []) is accepted


# ---- documented template rules are enforced by the create_template schema ------------------

DEFAULT = {"template_type": 1, "template_default_config": {}}
CODE = {"verify_code_type": 1, "verify_code_len": 6, "verify_code_ttl": 5}
BASE_TEMPLATE = {"template_id": "t-1", "send_channel_strategy": "whatsapp|sms",
                 "verify_code_config": CODE, "whatsapp_config": DEFAULT, "sms_config": DEFAULT}
DROP = object()


@pytest.mark.parametrize("changes", [
    pytest.param({}, id="base-is-valid"),
    pytest.param({"sms_config": {"template_type": 2, "template_custom_config": {
        "custom_sub_type": "authentication", "custom_content": "Hi"}}}, id="auth-without-code"),
    pytest.param({"sms_config": {**DEFAULT, "template_type": 2}}, id="sms-custom-no-custom-config"),
    pytest.param({"sms_config": DROP}, id="strategy-channel-without-config"),
    pytest.param({"verify_code_config": {**CODE, "verify_code_ttl": 3}}, id="whatsapp-ttl-3"),
    pytest.param({"send_channel_strategy": "sms|email"}, id="email-combined"),
    pytest.param({"verify_code_config": {**CODE, "verify_code_len": 11}}, id="code-len-11"),
    pytest.param({"verify_code_config": {**CODE, "verify_code_type": 8}}, id="code-type-8"),
    pytest.param({"brand_name": "B"}, id="brand-name-under-2"),
    pytest.param({"template_id": "x" * 129}, id="template-id-over-128"),
    pytest.param({"whatsapp_config": {"template_type": 1}}, id="whatsapp-no-default"),
    pytest.param({"sms_config": {"template_type": 1}}, id="sms-type-1-no-default"),
    pytest.param({"send_channel_strategy": "voice", "whatsapp_config": DROP, "sms_config": DROP,
                  "voice_config": {"template_type": 1}}, id="voice-no-default"),
])
def test_create_template_rules(changes: dict[str, Any]) -> None:
    body = {k: v for k, v in {**BASE_TEMPLATE, **changes}.items() if v is not DROP}
    found = errors(body_schema(OPS["create_template"], "request"), body)
    assert (found == []) is (changes == {}), found
