"""Certification of a partner's integration: a session against the mock, judged from its journal.

    profile.py     the profile (a scenario file with a `certification` key), JSON Schema checked
    records.py     the session's request records, as the judges read them
    conformance.py every request valid against the contract
    behaviour.py   retries, backoff, verify attempts, floods, timeouts
    judge.py       the requirements: conformance, coverage, behaviour, session; declared exceptions
    masking.py     secrets and partners' real recipients out of every report file
    report.py      report.json, its evidence and its JSON Schema (report_schema.py); html.py and
                   junit.py its views
    manifest.py    SHA-256 digests of every file, an Ed25519 signature, and their verification
    session.py     the session: its credentials, the command it runs, the records it reads

Pure core: no Flask, werkzeug, waitress or click. The session's server is `web/certify.py`, the
whole run (serve, wait or run the command, read the records, judge, write) `web/certify_run.py`.
"""
