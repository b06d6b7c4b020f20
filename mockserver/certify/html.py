"""report.json as one HTML page: readable on screen, printable, with no external asset and no
script (its Content-Security-Policy forbids both). Every value is escaped; the report is masked
before it gets here.

The page: the verdict and the counts (`#summary`), what certified what (kit, profile and
contract with their SHA-256, the session, timings, the signing statement), one table row per
requirement, then a section per requirement that did not pass (`#req-ID`) with its findings and
the requests and replies that show them.
"""

from __future__ import annotations

import html
from typing import Any

from mockserver.certify.results import PASSED, RESULTS


def escape(value: object) -> str:
    """HTML-escaped text with every control or format character (a NUL, an ESC, a bidi
    override) shown as its escape, so no byte a client or a profile sent is shown raw;
    newlines and tabs stay (the evidence is preformatted)."""
    text = str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() or c in "\n\t" else c.encode("unicode_escape").decode("ascii")
                       for c in text)
    return html.escape(text)


CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; color: #1a1a1a; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; }
th, td { text-align: left; vertical-align: top; padding: .3em .5em; border-bottom: 1px solid #ddd; }
th { background: #f3f3f3; } code, pre { font: 13px/1.4 ui-monospace, monospace; }
pre { background: #f6f6f6; padding: .5em; white-space: pre-wrap; word-break: break-all; margin: .2em 0; }
.result { font-weight: 700; padding: .1em .4em; border-radius: 3px; }
.PASSED { background: #dcf3dc; color: #0b5d0b; } .FAILED { background: #fbdcdc; color: #8a1010; }
.WARNING { background: #fff0c2; color: #6b4b00; } .SKIPPED { background: #e6e6e6; color: #333; }
.verdict { font-size: 1.3em; } .exchange { border: 1px solid #ddd; margin: .5em 0; padding: .4em .6em; }
@media print { body { margin: 0; max-width: none; font-size: 11pt; } h2 { break-after: avoid; }
  .exchange, tr { break-inside: avoid; } a { color: inherit; text-decoration: none; } }
"""


def render(report: dict[str, Any]) -> str:
    title = f"Certification of {report['partner']}: {report['result']}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>", "<main>",
        f"<h1>Certification of {escape(report['partner'])}</h1>",
        _summary(report), _about(report), _requirements(report), _failures(report), "</main>", "</body>", "</html>",
    ]
    return "\n".join(parts) + "\n"


def _badge(result: str) -> str:
    return f'<span class="result {escape(result)}">{escape(result)}</span>'


def _summary(report: dict[str, Any]) -> str:
    summary = report["summary"]
    cells = "".join(f"<td>{summary[name]}</td>" for name in RESULTS)
    heads = "".join(f"<th>{name}</th>" for name in RESULTS)
    result = escape(report["result"])
    return (f'<section id="summary"><p class="verdict">Result: <span id="result" class="result {result}">{result}'
            '</span> against profile '
            f'{escape(report["profile"]["id"])} {escape(report["profile"]["version"])}: '
            f'<span id="profile-standing">{escape(report["profile"]["standing"])}</span>, '
            f'SHA-256 <code>{escape(report["profile"]["sha256"])}</code></p>'
            f"<p>Created {escape(report['created'])}, valid until {escape(report['expires'])}. "
            f"{summary['requirements']} requirements, {summary['requests']} requests.</p>"
            f"<table><tr>{heads}</tr><tr>{cells}</tr></table></section>")


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in pairs)


def _about(report: dict[str, Any]) -> str:
    kit, profile, contract = report["kit"], report["profile"], report["contract"]
    session, timings, signing = report["session"], report["timings"], report["signing"]
    pairs = [
        ("Kit", f"{kit['name']} {kit['version']}"), ("Kit SHA-256", kit["sha256"]),
        ("Profile", f"{profile['title']} ({profile['id']} {profile['version']}, {profile['source']})"),
        ("Profile SHA-256", profile["sha256"]), ("Profile standing", profile["standing"]),
        ("Contract", f"{contract['title']} {contract['version']} ({contract['source']})"),
        ("Contract SHA-256", contract["sha256"]),
        ("Session", f"{session['mode']} mode, dev_key {session['dev_key']}, store {session['store']}, "
                    f"{session['started']} to {session['ended']}, ended by {session['ended_by']}"),
        ("Command", " ".join(session["command"]) or "(none: the partner drove its own application)"),
        ("Timings", f"session {timings['session_seconds']} s, judging {timings['judging_seconds']} s, "
                    f"request p50 {timings['request_p50_ms']} ms, max {timings['request_max_ms']} ms"),
        ("Signing", signing["statement"]),
    ]
    return f'<section id="about"><h2>What was certified</h2><table>{_rows(pairs)}</table></section>'


def _requirements(report: dict[str, Any]) -> str:
    rows = []
    for r in report["requirements"]:
        name = escape(r["id"])
        link = f'<a href="#req-{name}">{name}</a>' if r["result"] != PASSED else name
        rows.append(f'<tr data-result="{escape(r["result"])}"><td>{_badge(r["result"])}</td><td><code>{link}'
                    f'</code></td><td>{escape(r["title"])}</td><td>{escape(r["section"])}</td>'
                    f'<td>{escape(r["reason"])}</td></tr>')
    head = "<tr><th>Result</th><th>Requirement</th><th>Title</th><th>Documentation</th><th>Reason</th></tr>"
    return f'<section id="requirements"><h2>Requirements</h2><table>{head}{"".join(rows)}</table></section>'


def _failures(report: dict[str, Any]) -> str:
    shown = [r for r in report["requirements"] if r["result"] != PASSED]
    if not shown:
        return '<section id="details"><h2>Details</h2><p>Every requirement passed.</p></section>'
    return '<section id="details"><h2>What did not pass</h2>' + "".join(
        _failure(r, report["exchanges"]) for r in shown) + "</section>"


def _failure(requirement: dict[str, Any], exchanges: dict[str, Any]) -> str:
    name = escape(requirement["id"])
    findings = "".join(f"<li>{escape(f['text'])}</li>" for f in requirement["findings"])
    more = requirement["findings_total"] - len(requirement["findings"])
    extra = f"<p>and {more} more finding(s) in report.json's count</p>" if more > 0 else ""
    trigger = f"<p>How to trigger it: {escape(requirement['trigger'])}</p>" if requirement.get("trigger") else ""
    evidence = "".join(_exchange(exchanges[str(i)]) for i in requirement["records"] if str(i) in exchanges)
    return (f'<article class="requirement" id="req-{name}"><h3>{_badge(requirement["result"])} <code>{name}'
            f'</code> {escape(requirement["title"])}</h3><p>{escape(requirement["reason"])}</p>'
            f'<p>Documentation: {escape(requirement["section"])} ({escape(requirement["source"])})</p>{trigger}'
            f"<ul>{findings}</ul>{extra}"
            + (f'<div class="evidence"><h4>Evidence</h4>{evidence}</div>' if evidence else "") + "</article>")


def _exchange(x: dict[str, Any]) -> str:
    target = x["path"] + (f"?{x['query']}" if x.get("query") else "")
    headers = "\n".join(f"{k}: {v}" for k, v in sorted(x.get("headers", {}).items()))
    answer = f"fault {x['fault']}" if x.get("fault") else f"HTTP {x['status']}" + (
        f", code {x['code']}" if x.get("code") is not None else "")
    took = x.get("exchange") or {}
    timing = (f", {took['elapsed_seconds']} s" + (", the client gave up first" if took.get("client_gone") else "")
              if took else f", {x.get('duration_ms')} ms")
    return (f'<div class="exchange" id="exchange-{x["id"]}"><p><b>#{x["id"]}</b> <code>{escape(x["method"])} '
            f"{escape(target)}</code> answered {escape(answer)}{escape(timing)}</p>"
            f"<pre>{escape(headers)}</pre><p>Request body</p><pre>{escape(str(x.get('body') or ''))}</pre>"
            f"<p>Reply</p><pre>{escape(str(x.get('reply') or ''))}</pre></div>")
