"""Where the emulator's parts live (issue 20): the runtime package `p2c.emulator` holds what `p2c emulator`
runs, nothing built or used only by the source tree (the schema generator, the test fixtures), and one
command line (the `p2c emulator` typer command) parses its options."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import p2c.emulator

PACKAGE = Path(p2c.emulator.__file__).resolve().parent
REPO = Path(__file__).resolve().parents[1]


def test_the_schema_generator_is_a_build_tool_outside_the_runtime_package() -> None:
    assert importlib.util.find_spec("p2c.emulator.schema_gen") is None
    assert (REPO / "tools" / "emulator_schema_gen.py").is_file()
    assert (PACKAGE / "schema.json").is_file()  # what it writes stays data beside its loader


def test_the_emulator_test_fixtures_live_with_the_tests() -> None:
    assert importlib.util.find_spec("p2c.emulator.testing") is None
    assert (REPO / "tests" / "emulator_fixtures.py").is_file()


def test_the_emulator_package_declares_no_command_line_parser_of_its_own() -> None:
    sources = {path.name: path.read_text(encoding="utf-8") for path in PACKAGE.glob("*.py")}
    assert [name for name, text in sources.items() if "argparse" in text] == []


def test_python_m_p2c_emulator_is_the_p2c_emulator_command() -> None:
    """Both spellings print the same help: one declaration of the options (with --tenant, once argparse's)."""

    def help_of(*command: str) -> str:
        env = {**os.environ, "COLUMNS": "120"}
        done = subprocess.run(
            [sys.executable, *command, "--help"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split("\n", 1)[1]  # after "Usage: <program name> ..."

    module_help = help_of("-m", "p2c.emulator")
    assert module_help == help_of("-m", "p2c.cli", "emulator")
    for option in ("--state", "--client-id", "--client-cert", "--tenant", "--admin", "--reset", "--limits"):
        assert option in module_help


def test_the_wsgi_app_only_admits_and_dispatches_through_the_route_table() -> None:
    """app.py authenticates, injects faults, admits and hands the request to `routes`; it parses no query,
    batch or metadata itself (those live in handlers/, record_query.py and odata_query.py)."""
    import ast

    from p2c.emulator.routes import ROUTES

    tree = ast.parse((PACKAGE / "app.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"p2c.emulator.odata_query", "p2c.emulator.batch", "p2c.emulator.metadata"}
    assert "p2c.emulator.routes" in imported
    handler_modules = {route.handler.__module__ for route in ROUTES}
    assert handler_modules <= {
        f"p2c.emulator.handlers.{name}" for name in ("records", "bulk", "batch", "metadata", "functions")
    }
    assert {route.method for route in ROUTES} >= {"GET", "POST", "PATCH", "DELETE"}
