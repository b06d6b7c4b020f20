"""The kit as a newcomer meets it: the tools it installs, its help texts, its packaging."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from conftest import ROOT
from mockserver import cli


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


def test_make_help_lists_every_described_target() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    described = re.findall(r"^([a-z][a-z-]*):[^#\n]*## ", makefile, re.MULTILINE)
    assert {"help", "serve", "test", "lint", "clean"} <= set(described)
    for args in (["help"], []):  # `make` alone shows the list too, and sets nothing up
        done = subprocess.run([make, "--no-print-directory", "-C", str(ROOT), *args], capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        listed = re.findall(r"^  make (\S+)", done.stdout, re.MULTILINE)
        assert listed == described, done.stdout
    assert "set everything up and serve the mock" in done.stdout


def test_help_points_from_the_commands_to_their_flags() -> None:
    top = CliRunner().invoke(cli.main, ["--help"])
    assert top.exit_code == 0 and "otp-mock serve --help" in top.output, top.output
    serve = CliRunner().invoke(cli.main, ["serve", "--help"])
    assert serve.exit_code == 0
    for flag in ("--port", "--seed", "--scenario", "--workers", "--store", "--set"):
        assert flag in serve.output, flag


def test_the_licence_setup_cfg_names_is_there() -> None:
    setup = (ROOT / "setup.cfg").read_text(encoding="utf-8")
    assert re.search(r"^license = MIT$", setup, re.MULTILINE) and "license_files = LICENSE" in setup
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n") and "Permission is hereby granted, free of charge" in text
