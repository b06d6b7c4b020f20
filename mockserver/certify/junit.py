"""report.json as JUnit XML: one test suite per group, one test case per requirement, for CI
dashboards. A FAILED requirement is a `<failure>`, a WARNING a `<failure type="WARNING">` (the
certification passes only when every requirement passed, and CI should say so), a SKIPPED one
`<skipped>`; the findings are the failure's text."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from mockserver.certify.results import FAILED, SKIPPED, WARNING

GROUPS = ("conformance", "coverage", "behaviour", "session")
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    """Text XML 1.0 can carry (control characters a client sent become U+FFFD)."""
    return _NOT_XML.sub("\ufffd", text)


def render(report: dict[str, Any]) -> bytes:
    root = ET.Element("testsuites", name=clean(f"certification of {report['partner']}"),
                      tests=str(len(report["requirements"])),
                      failures=str(_count(report["requirements"], (FAILED, WARNING))),
                      skipped=str(_count(report["requirements"], (SKIPPED,))),
                      timestamp=report["created"])
    for group in GROUPS:
        rows = [r for r in report["requirements"] if r["group"] == group]
        if rows:
            root.append(_suite(group, rows, report))
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _count(rows: list[dict[str, Any]], results: tuple[str, ...]) -> int:
    return sum(1 for r in rows if r["result"] in results)


def _suite(group: str, rows: list[dict[str, Any]], report: dict[str, Any]) -> ET.Element:
    suite = ET.Element("testsuite", name=group, tests=str(len(rows)), failures=str(_count(rows, (FAILED, WARNING))),
                       skipped=str(_count(rows, (SKIPPED,))), timestamp=report["created"])
    properties = ET.SubElement(suite, "properties")
    for name, value in (("partner", report["partner"]), ("profile", f"{report['profile']['id']} "
                        f"{report['profile']['version']}"), ("profile_sha256", report["profile"]["sha256"]),
                        ("profile_standing", report["profile"]["standing"]),
                        ("profile_shipped", str(report["profile"]["shipped"]).lower()),
                        ("contract_sha256", report["contract"]["sha256"]), ("kit", report["kit"]["version"])):
        ET.SubElement(properties, "property", name=name, value=clean(str(value)))
    for row in rows:
        suite.append(_case(group, row))
    return suite


def _case(group: str, row: dict[str, Any]) -> ET.Element:
    case = ET.Element("testcase", classname=f"certification.{group}", name=clean(row["id"]))
    details = "\n".join(clean(f["text"]) for f in row["findings"])
    if row["result"] in (FAILED, WARNING):
        failure = ET.SubElement(case, "failure", message=clean(row["reason"]), type=row["result"])
        failure.text = details or clean(row["reason"])
    elif row["result"] == SKIPPED:
        ET.SubElement(case, "skipped", message=clean(row["reason"]))
    out = ET.SubElement(case, "system-out")
    out.text = clean(f"{row['title']}\nsection: {row['section']}\nsource: {row['source']}\n{row['reason']}"
                     + (f"\n{details}" if details else ""))
    return case
