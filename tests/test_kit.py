"""The kit as a newcomer meets it: the tools it installs, its help texts, its packaging."""

from __future__ import annotations

import configparser
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

import mockserver
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


# -- packaging ---------------------------------------------------------------------------------

def _setup_option(name: str) -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg", encoding="utf-8")
    return [line.strip() for line in parser["options"][name].splitlines() if line.strip()]


def test_setup_cfg_lists_every_package_folder_with_the_suites_under_a_name_of_their_own() -> None:
    assert _setup_option("package_dir") == ["otp_mock_contracts = contracts"]
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in ROOT.glob("mockserver/**/__init__.py")}
    folders |= {"mockserver.data", "mockserver.data.scenarios"}  # data files only: namespace packages
    folders |= {"otp_mock_contracts" + ".".join(("", *p.parent.relative_to(ROOT / "contracts").parts))
                for p in ROOT.glob("contracts/**/__init__.py")}
    assert set(_setup_option("packages")) == folders


def test_the_suites_import_as_otp_mock_contracts_and_nothing_installs_contracts() -> None:
    probe = ("import importlib.util, otp_mock_contracts.cli; "
             "print(importlib.util.find_spec('contracts'), otp_mock_contracts.__file__)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", str(ROOT / "contracts" / "__init__.py")]


def test_the_version_is_written_once() -> None:
    setup = (ROOT / "setup.cfg").read_text(encoding="utf-8")
    assert "version = attr: mockserver.__version__" in setup
    assert mockserver.__version__ not in setup + (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert importlib.metadata.version("otp-mock-kit") == mockserver.__version__
    shown = CliRunner().invoke(cli.main, ["--version"], prog_name="otp-mock")
    assert shown.exit_code == 0 and shown.output == f"otp-mock, version {mockserver.__version__}\n"


def test_the_hint_for_the_missing_extra_works_from_an_index_and_from_a_clone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # as if the `contract` extra were not installed
    monkeypatch.setitem(sys.modules, "hypothesis.configuration", None)
    result = CliRunner().invoke(cli.main, ["contract"])
    assert result.exit_code == 1
    assert "pip install 'otp-mock-kit[contract]' (from a package index)" in result.output, result.output
    assert "pip install -e '.[contract]' in a clone of the kit" in result.output
