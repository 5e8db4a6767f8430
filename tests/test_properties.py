"""Bad input, generated (hypothesis): config documents, CLI arguments, MLflow filters, Alertmanager
matchers, label values with control characters, malformed backend answers. Each ends in a result or
one of mlops-tui's own errors, never another exception; and a terminal resized down to 20x5 and back
does not crash the TUI.

Example counts stay moderate (`EXAMPLES`) so the suite stays fast; the README gives the totals.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_tui.cli import main
from mlops_tui.cli.app import root
from mlops_tui.config import EnvironmentSettings, MlflowSettings, Settings, load_settings, parse_settings
from mlops_tui.domain.matchers import parse_matchers
from mlops_tui.errors import ConfigError, ExitCode, InvalidQuery, MlopsError, UsageError
from mlops_tui.hub import Hub
from mlops_tui.text.sanitize import printable
from tests.helpers import FakeHttpServer, closed_port, write_config

EXAMPLES = {
    "config tree": 150,
    "config text": 150,
    "cli arguments": 60,
    "filter": 80,
    "matchers": 200,
    "printable": 200,
    "table cells": 60,
    "backend answers": 80,
}
COMMON = {"deadline": None, "derandomize": True, "suppress_health_check": list(HealthCheck)}

KEYS = [
    "default_env", "operator", "journal", "theme", "keymap", "environments", "dev", "prd", "mlflow",
    "gitlab", "retrain", "alertmanager", "rules", "tracking_uri", "promotion", "token_env", "token",
    "token_command", "refresh_seconds", "timeout_seconds", "protected", "read_only", "models", "url",
    "project", "kind", "command", "name", "metric", "op", "threshold", "page_size", "registered_model",
]  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True)
    | st.text(max_size=30)
    | st.sampled_from(["alias", "stage", "local", "gitlab", "sqlite:///x.db", "http://h", "<", "{name}"])
)
trees = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=EXAMPLES["config tree"], **COMMON)
@given(st.dictionaries(st.sampled_from(KEYS), trees, max_size=5))
def test_any_config_tree_is_settings_or_a_config_error(document: dict[str, Any]) -> None:
    try:
        result = parse_settings(document)
    except ConfigError as exc:
        assert exc.message and exc.exit_code == ExitCode.USAGE
    else:
        assert isinstance(result, Settings) and result.default_env in result.environments


@settings(max_examples=EXAMPLES["config text"], **COMMON)
@given(
    lines=st.lists(
        st.sampled_from(["[environments.dev.mlflow]", 'tracking_uri = "x"', "[[rules]]", "= =", "a.b = 1"])
        | st.text(max_size=40),
        max_size=8,
    )
)
def test_any_config_file_is_settings_or_a_config_error(lines: list[str], tmp_path_factory: Any) -> None:
    path = tmp_path_factory.mktemp("config") / "c.toml"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    with contextlib.suppress(ConfigError):
        assert isinstance(load_settings(path), Settings)


# -- CLI arguments --------------------------------------------------------------------------------


def leaf_commands() -> list[tuple[str, ...]]:
    found = []

    def walk(group: Any, path: tuple[str, ...]) -> None:
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                walk(command, (*path, name))
            elif (*path, name) not in (("demo",), ("config", "init")):  # they write the user's files
                found.append((*path, name))

    walk(root, ())
    return found


OPTION_WORDS = [
    "--json", "--yes", "--dry-run", "--read-only", "--limit", "--filter", "--env", "--confirm", "--alias",
    "--stage", "--to-env", "--var", "--ref", "--status", "--job", "--duration", "--comment", "--all",
    "--model", "dev", "nope", "churn", "4", "-1", "0", "99999999999", "", "--", "-h",
]  # fmt: skip


@pytest.fixture(scope="module")
def unreachable_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    port = closed_port()
    backends = {
        "mlflow": {"tracking_uri": f"http://127.0.0.1:{port}", "timeout_seconds": 1},
        "gitlab": {"url": f"http://127.0.0.1:{port}", "project": "ml/models", "timeout_seconds": 1},
    }
    directory = tmp_path_factory.mktemp("cli")
    return write_config(directory / "c.toml", {"dev": backends}, journal=str(directory / "journal.sqlite3"))


@settings(max_examples=EXAMPLES["cli arguments"], **COMMON)
@given(
    command=st.sampled_from(leaf_commands()),
    words=st.lists(st.sampled_from(OPTION_WORDS) | st.text(max_size=12), max_size=6),
)
def test_any_cli_arguments_end_in_a_documented_exit_code(
    command: tuple[str, ...], words: list[str], unreachable_config: Path
) -> None:
    stderr = io.StringIO()
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(stderr),
        pytest.raises(SystemExit) as exited,
    ):
        main([*command, *words, "--config", str(unreachable_config)])
    assert exited.value.code in set(ExitCode), (command, words, stderr.getvalue())
    assert "internal error" not in stderr.getvalue() and "Traceback" not in stderr.getvalue()


# -- MLflow filters -------------------------------------------------------------------------------

FILTER_WORDS = [
    "metrics.val_auc", "params.algorithm", "tags.`mlflow.runName`", "attributes.status", "run_name",
    ">", "<", "=", "!=", "LIKE", "ILIKE", "IN", "and", "or", "(", ")", "'xgb'", "0.8", "'", "`", "%",
]  # fmt: skip


@settings(max_examples=EXAMPLES["filter"], **COMMON)
@given(words=st.lists(st.sampled_from(FILTER_WORDS) | st.text(max_size=6), min_size=1, max_size=7))
def test_any_run_filter_is_rows_or_an_invalid_query(words: list[str], demo_settings: Settings) -> None:
    async def search() -> None:
        hub = Hub(demo_settings)
        try:
            await hub.runs(" ".join(words), max_results=5)
        except MlopsError as exc:
            assert isinstance(exc, UsageError | MlopsError) and exc.message
            assert "unexpected answer" not in exc.message, exc.message
        finally:
            await hub.aclose()

    asyncio.run(search())


# -- Alertmanager matchers ------------------------------------------------------------------------


@settings(max_examples=EXAMPLES["matchers"], **COMMON)
@given(
    st.lists(
        st.lists(
            st.sampled_from(
                ["alertname", "model", "=", "!=", "=~", "!~", '"', "x", ".*", "{", "}", ",", "\\"]
            )
            | st.text(max_size=5),
            max_size=6,
        ).map("".join),
        max_size=3,
    )
)
def test_any_matcher_text_parses_or_is_a_clear_error(texts: list[str]) -> None:
    try:
        matchers = parse_matchers(texts)
    except (UsageError, InvalidQuery) as exc:
        assert exc.message and exc.exit_code == ExitCode.USAGE
    else:
        # What was parsed is said again in Alertmanager's syntax, and parses the same.
        assert parse_matchers([str(m) for m in matchers]) == matchers


# -- label values never reach the terminal as escapes ---------------------------------------------

# C0 and C1 controls, DEL, and the bidirectional formatting characters (ALM, LRM, RLM, embeddings,
# overrides, isolates): what must never reach a terminal as it is.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
nasty = st.lists(
    st.text(st.characters(codec="utf-8"), max_size=60)
    | st.sampled_from(["\x1b[2J", "\x1b]0;pwned\x07", "\r", "\x9b31m", "\u202e", "[red]x[/]"]),
    max_size=6,
).map("".join)


@settings(max_examples=EXAMPLES["printable"], **COMMON)
@given(nasty)
def test_printable_leaves_no_control_character(text: str) -> None:
    shown = printable(text)
    assert not CONTROL.search(shown)
    if not CONTROL.search(text):
        assert shown == text  # everything else, unicode included, stays as it is


@settings(max_examples=EXAMPLES["table cells"], **COMMON)
@given(cells=st.lists(nasty, min_size=1, max_size=3))
def test_cli_tables_print_no_escape(cells: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_tui.cli.render import emit_table

    capsys.readouterr()
    emit_table(["A", "B", "C"][: len(cells)], [cells])
    out = capsys.readouterr().out
    assert not CONTROL.search(out.replace("\n", ""))


async def test_the_tui_shows_control_characters_as_escapes(demo_settings: Settings) -> None:
    from mlflow.tracking import MlflowClient

    from tests.helpers.tui import SIZE, demo_app, pane, until

    mlflow = demo_settings.environments["local"].mlflow
    assert mlflow is not None
    client = MlflowClient(tracking_uri=mlflow.tracking_uri)
    evil = "evil\x1b[2J\x1b]0;pwned\x07-" + "é" * 300
    client.create_registered_model(evil)
    app = demo_app(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        models = pane(app, "models").table
        await until(pilot, lambda: models.row_count == 4)
        cell = str(models.get_row(evil)[0])
        assert cell.startswith("evil\\x1b[2J\\x1b]0;pwned\\x07-") and not CONTROL.search(cell)
        assert not CONTROL.search(app.export_screenshot().replace("\n", ""))


# -- malformed backend answers ---------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["runs", "experiments", "registered_models", "info", "data", "name", "experiment_id"]
            )
            | st.text(max_size=6),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=EXAMPLES["backend answers"], **COMMON)
@given(json_values, st.sampled_from([200, 400, 404, 500]))
def test_any_mlflow_answer_is_data_or_a_backend_error(answer: Any, status: int) -> None:
    body = json.dumps(answer).encode()
    with FakeHttpServer(lambda request: (status, "application/json", body)) as server:
        settings = Settings(
            {"dev": EnvironmentSettings(mlflow=MlflowSettings(tracking_uri=server.url))}, "dev"
        )

        async def read() -> None:
            hub = Hub(settings)
            try:
                for call in (hub.models, hub.runs):
                    with contextlib.suppress(MlopsError):
                        await call()
            finally:
                await hub.aclose()

        asyncio.run(read())


# -- resizing ----------------------------------------------------------------------------------


async def test_resized_down_to_20x5_and_back(demo_settings: Settings) -> None:
    from tests.helpers.tui import SIZE, demo_app, loaded, until

    app = demo_app(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        for size in ((40, 12), (20, 5), (21, 6), (20, 5), SIZE):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert app.size == size
        await pilot.press("down", "tab", "question_mark", "question_mark")
        await until(pilot, loaded(app))
        assert app.is_running
