"""The kit as a newcomer meets it: the tools it installs, its help texts, its packaging."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import ROOT


@pytest.mark.skipif(not (ROOT / "node_modules" / ".bin" / "redocly").exists(),
                    reason="Redocly CLI is not installed (make lint-contract installs it from package-lock.json)")
def test_the_pinned_redocly_supports_the_documented_node_without_a_notice() -> None:
    npx = shutil.which("npx")
    assert npx is not None
    done = subprocess.run([npx, "--no-install", "redocly", "--version"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env={**os.environ, "REDOCLY_TELEMETRY": "off",
                                                     "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"})
    assert done.returncode == 0, done.stderr
    assert "support is ending" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert "failed to satisfy expected node version" not in done.stdout + done.stderr
