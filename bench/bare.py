"""The bare Flask app of the benchmark: the same route, JSON in and out, Basic auth read, no rules.

    python bench/bare.py PORT WORKERS   # served by the same server, with the same options, as the mock
"""

import itertools
import sys

from flask import Flask, jsonify, request

_ids = itertools.count(1725407449772531712)


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/v1/messages")
    def send():  # type: ignore[no-untyped-def]
        if not request.authorization:
            return jsonify(code=2001, message="authentication failed"), 401
        body = request.get_json()
        return jsonify(message_id=str(next(_ids)), send_channel="sms", to=body.get("to"))

    @app.get("/_mock/health")
    def health():  # type: ignore[no-untyped-def]
        return jsonify(status="ok")

    return app


if __name__ == "__main__":
    from mockserver.config import Settings
    from mockserver.web import workers
    from mockserver.web.server import serve_on

    port, count = int(sys.argv[1]), int(sys.argv[2])
    settings = Settings.load(overrides={"port": port})
    settings = settings.replace(threads=settings.worker_threads)  # as `otp-mock serve --workers`
    workers.run(settings, count, create_app(), lambda url: print(f"bare app at {url}", flush=True), serve_on)
