"""One exit-code scheme for every command (p2c.errors.ExitCode): the CLI turns a user-facing error into one
message on stderr and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from p2c import __version__
from p2c.cli import app
from p2c.errors import ExitCode


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.stdout.strip()) == (ExitCode.OK, f"p2c {__version__}")


def test_emulator_without_a_user_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["emulator", "--state", str(tmp_path / "emu.sqlite")])
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert "give at least one --client-id" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "emu.sqlite").exists()


def test_emulator_secret_comes_from_the_environment_only(tmp_path: Path) -> None:
    args = ["emulator", "--state", str(tmp_path / "emu.sqlite"), "--client-id", "app1"]
    result = CliRunner().invoke(app, args, env={"P2C_CLIENT_SECRET": ""})
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert "set the environment variable P2C_CLIENT_SECRET" in result.stderr


def test_build_with_an_unparsable_var_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["build", "--db", str(tmp_path / "x.duckdb"), "--var", "novalue"])
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert "--var expects KEY=VALUE" in result.stderr
    assert "Traceback" not in result.output


def test_lineage_options_belong_to_the_subcommand(tmp_path: Path) -> None:
    # `--db` is an option of each lineage subcommand, not of the group: it can never be silently ignored
    result = CliRunner().invoke(app, ["lineage", "--db", str(tmp_path / "x.duckdb"), "check"])
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert "No such option: --db" in result.output


def test_an_install_without_the_dbt_project_says_where_to_point(tmp_path: Path) -> None:
    # `pip install .` installs the code only; the dbt project is found through P2C_PROJECT_DIR
    export = tmp_path / "accounts.csv"
    export.write_text("Account Number\nA-1\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["load", str(export), "--db", str(tmp_path / "x.duckdb")], env={"P2C_PROJECT_DIR": str(tmp_path)}
    )
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert "set P2C_PROJECT_DIR to the p2c-dualwrite project folder" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.duckdb").exists()
