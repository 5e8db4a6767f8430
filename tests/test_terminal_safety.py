"""Backend text never drives the operator's terminal.

Hostile values (terminal titles, screen clears, clipboard writes, hyperlinks, bidi overrides, C1
controls, markup) are planted through every backend the tests run: MLflow (run names, params, tags,
model and version descriptions), Alertmanager (labels, annotations, a silence's comment), the
GitLab and Vertex AI test servers (refs, users, job names, logs, display names) and local rules
(their summaries name the model). Then every screen and dialog is opened, and what the app would
send the terminal to draw it is read: nothing but Textual's own sequences and safe text, with the
escapes visible.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, RichLog

from mlops_tui.config import EnvironmentSettings, GitlabSettings, MlflowSettings, Settings
from mlops_tui.domain import Change, GateCheck
from mlops_tui.text.sanitize import printable, terminal_log, web_link
from mlops_tui.tui import MlopsApp
from mlops_tui.tui.screens.alerts import AlertScreen, SilencesScreen, TriageScreen
from mlops_tui.tui.screens.compare import CompareScreen
from mlops_tui.tui.screens.details import HistoryScreen, ModelScreen, PipelineScreen, RunScreen, TraceScreen
from mlops_tui.tui.screens.dialogs import ConfirmDialog, PromoteDialog, SilenceDialog, TrafficDialog
from mlops_tui.tui.screens.fleet import FleetScreen
from mlops_tui.tui.terminal_safe import TerminalSafe
from tests.fakes.gitlab_server import TOKEN, FakeGitlab
from tests.fakes.vertex_server import FakeVertex
from tests.helpers import mlops_tui_command, run_cli, write_config
from tests.helpers.alertmanager import AlertmanagerTestbed
from tests.helpers.hostile import (
    HOSTILE_MODEL,
    RUN_NAME,
    Planted,
    plant,
    plant_alert,
    plant_gitlab,
    plant_mlflow,
    terminal_output,
    title,
    unsafe_in_output,
)
from tests.helpers.tui import demo_app, measured, notified, rows, shown, until
from tests.test_e2e_tmux import Terminal, terminal  # noqa: F401 - the tmux fixture

SIZE = (160, 45)


@pytest.fixture
def planted(
    demo_store: MlflowSettings,
    alertmanager: AlertmanagerTestbed,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Planted]:
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with FakeGitlab() as gitlab, FakeVertex("acme-ml", "us-central1") as vertex:
        planted = plant(demo_store, gitlab, alertmanager, vertex, tmp_path)
        # A silence someone else made, with a hostile comment and author.
        httpx.post(
            f"{alertmanager.url}/api/v2/silences",
            json={
                "matchers": [{"name": "test", "value": alertmanager.test, "isRegex": False}],
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "2099-01-01T00:00:00Z",
                "createdBy": f"eve{title('SILPWN')}",
                "comment": f"comment{title('COMPWN')}",
            },
        ).raise_for_status()
        yield planted


def esc(marker: str) -> str:
    """How a person sees the start of `title(marker)`: the escape, visible."""
    return f"\\x1b]0;{marker}"


def visible(app: MlopsApp) -> str:
    """The text the terminal would show, without the sequences that draw it."""
    return re.sub(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\]8;[^\x1b]*\x1b\\", "", terminal_output(app))


async def showing(pilot: Pilot[None], *texts: str) -> None:
    """Wait until the terminal would show each of `texts` as it is written here."""
    app = pilot.app
    assert isinstance(app, MlopsApp)
    try:
        await until(pilot, lambda: all(text in visible(app) for text in texts))
    except AssertionError:
        raise AssertionError(f"{type(app.screen).__name__} never showed {texts}:\n{visible(app)}") from None


async def open_and_check(pilot: Pilot[None], screen: Screen[object], *texts: str) -> str:
    """Push `screen`, wait until it shows `texts`, and check what it sends the terminal."""
    app = pilot.app
    assert isinstance(app, MlopsApp)
    app.push_screen(screen)
    await shown(pilot, type(screen))
    await showing(pilot, *texts)
    await measured(pilot)
    output = terminal_output(app)
    assert unsafe_in_output(output) == [], type(screen).__name__
    return output


async def test_every_screen_and_dialog_shows_backend_text_escaped(planted: Planted) -> None:
    app = demo_app(planted.settings)
    async with app.run_test(size=SIZE) as pilot:
        hub = app.hub
        # The dashboard: all five panes, each with hostile rows.
        await showing(pilot, "RUNPWN", "MODNAME", "REFPWN", "EvilAlert")
        await until(pilot, lambda: rows(app, "endpoints") == 3)  # its names: the traffic dialog below
        assert unsafe_in_output(terminal_output(app)) == []

        run = await open_and_check(
            pilot, RunScreen(hub, planted.run_id), esc("RUNPWN"), esc("PARAMPWN"), "\\x1b]52;c;"
        )
        assert "[@click=app.quit]click me[/]" in run  # a param that looks like markup is text
        app.pop_screen()

        await open_and_check(pilot, ModelScreen(hub, HOSTILE_MODEL), esc("MODNAME"), esc("MODPWN"))
        app.pop_screen()
        await open_and_check(pilot, HistoryScreen(hub, app.journal, HOSTILE_MODEL), esc("MODNAME"))
        app.pop_screen()
        await open_and_check(pilot, PipelineScreen(hub, planted.pipeline_id), "REFPWN", "JOBPWN", "USERPWN")
        app.pop_screen()

        log = await open_and_check(pilot, TraceScreen(hub, planted.job_id), "red and kept", "bell\\x07")
        # Colours are kept; the title, clipboard and hyperlink sequences are dropped whole.
        lines = app.screen.query_one(RichLog).lines
        red = [s for line in lines for s in line if s.text == "red and kept"]
        assert red and red[0].style is not None and red[0].style.color is not None
        assert "LOGPWN" not in log and "javascript" not in log
        app.pop_screen()

        alerts = {a.name: a for a in (await hub.alerts()).items}
        evil, rule = alerts["EvilAlert"], alerts["EvilRule"]
        alert = await open_and_check(
            pilot, AlertScreen(hub, evil), esc("AMPWN"), "ANNPWN", "LABELPWN", "not an http(s) link"
        )
        assert "javascript:alert(1)" in alert and ";javascript:" not in alert  # shown, never a link
        app.pop_screen()
        await open_and_check(pilot, AlertScreen(hub, rule), esc("MODNAME"), "file:///etc/passwd")
        app.pop_screen()
        await open_and_check(pilot, TriageScreen(hub, app.journal, evil), esc("AMPWN"))
        app.pop_screen()
        await open_and_check(pilot, TriageScreen(hub, app.journal, rule), esc("MODNAME"))
        app.pop_screen()
        # Other tests' silences on the session's Alertmanager may push these columns out of view:
        # the cells are read, and what is drawn is checked.
        app.push_screen(SilencesScreen(hub))
        silences = (await shown(pilot, SilencesScreen)).query_one("#silences", DataTable)

        def cells() -> str:
            return " ".join(str(c) for i in range(silences.row_count) for c in silences.get_row_at(i))

        await until(pilot, lambda: esc("SILPWN") in cells() and esc("COMPWN") in cells())
        assert unsafe_in_output(terminal_output(app)) == []
        app.pop_screen()

        await pilot.press("f")
        await shown(pilot, FleetScreen)
        await showing(pilot, esc("MODNAME"))
        assert unsafe_in_output(terminal_output(app)) == []
        app.pop_screen()

        await open_and_check(pilot, CompareScreen(hub, [planted.run_id, planted.other_run_id]), "RUNPWN")
        app.pop_screen()

        _, versions = await hub.model(HOSTILE_MODEL)
        await open_and_check(
            pilot,
            PromoteDialog(
                HOSTILE_MODEL, versions, selected=None, mode="alias", environment="dev", environments=["dev"]
            ),
            esc("MODNAME"),
        )
        app.pop_screen()
        await open_and_check(pilot, SilenceDialog(evil, author="priya"), esc("MODNAME"))
        app.pop_screen()
        change = Change(
            "promote",
            "dev",
            f"{HOSTILE_MODEL}@champion",
            HOSTILE_MODEL,
            "v1",
            "v2",
            (f"description {title('DETAILPWN')}",),
            checks=(
                GateCheck("required_tags", False, f"tag validation_status = passed (is {title('GATEPWN')})"),
            ),
        )
        await open_and_check(
            pilot, ConfirmDialog(change, typed=HOSTILE_MODEL, protected=True), "DETAILPWN", esc("GATEPWN")
        )
        app.pop_screen()
        endpoint = next(e for e in await hub.endpoints() if "VTXPWN" in e.display_name)
        await open_and_check(
            pilot, TrafficDialog(endpoint), esc("VTXPWN"), "\\x1b]52;c;", "[reverse]markup[/reverse]"
        )
        app.pop_screen()

        # Notifications hold backend words too (an error, a name): text, never markup.
        app.screen.notify(f"failed: [@click=app.quit]{esc('NOTEPWN')}[/]")
        await until(pilot, lambda: notified(app, "NOTEPWN"))
        assert all(n.markup is False for n in app._notifications)


def test_trace_screen_snapshot_shows_the_escapes(
    snap_compare: Callable[..., bool],
    demo_store: MlflowSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a person sees of a hostile job log: its colours, and the stray controls escaped."""
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with FakeGitlab() as gitlab:
        _, job_id = plant_gitlab(gitlab)
        gitlab_settings = GitlabSettings(url=gitlab.url, project="ml/models", token_env="GITLAB_TOKEN")
        environment = EnvironmentSettings(mlflow=demo_store, gitlab=gitlab_settings)
        app = demo_app(Settings({"dev": environment}, "dev", journal=tmp_path / "journal.db"))

        async def opened(pilot: Pilot[None]) -> None:
            # Every source answered first: what the header says of them is settled.
            await until(pilot, lambda: all(s.state.value == "ok" for s in app.hub.status_list()))
            app.push_screen(TraceScreen(app.hub, job_id))
            screen = await shown(pilot, TraceScreen)
            await until(pilot, lambda: screen.complete)
            await showing(pilot, "bell\\x07")

        assert snap_compare(app, terminal_size=(80, 16), run_before=opened)


# -- the sanitizer and the filter on their own ----------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\x1b]0;t\x07b", "a\\x1b]0;t\\x07b"),
        ("clear\x1b[2J", "clear\\x1b[2J"),
        ("c1\x9b2J", "c1\\x9b2J"),
        ("bidi\u202eexe.txt", "bidi\\u202eexe.txt"),
        ("isolate\u2066x\u2069", "isolate\\u2066x\\u2069"),
        ("line\nbreak\ttab\x7f", "line\\x0abreak\\x09tab\\x7f"),
        ("unicode é 漢字 ✓", "unicode é 漢字 ✓"),
    ],
)
def test_printable_shows_unsafe_characters_as_escapes(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_job_logs_keep_their_colours_and_nothing_else() -> None:
    raw = (
        "\x1b[32;1mok\x1b[0m\x1b[0K\r\n"
        "\x1b]0;title\x07\x1b]52;c;aGk=\x07\x1b]8;;javascript:x\x1b\\link\x1b]8;;\x1b\\\n"
        "\x1bP1$r\x1b\\dcs\x1b[2J\x1b[H\n"
        "10%\r50%\r100%\n"
        "bell\x07 c1\x9b2J bidi\u202e tab\tend\n"
    )
    assert terminal_log(raw) == (
        "\x1b[32;1mok\x1b[0m\nlink\ndcs\n100%\nbell\\x07 c1\\x9b2J bidi\\u202e tab\tend\n"
    )
    # Rich's decoder, which draws the log, turns what is left into colours alone.
    decoded = Text.from_ansi(terminal_log(raw))
    assert {str(span.style) for span in decoded.spans} == {"bold color(2)"}
    # Without the sanitizer it would make a hyperlink of an OSC 8 sequence: keep that known.
    link = "\x1b]8;;javascript:x\x1b\\link\x1b]8;;\x1b\\"
    assert any(span.style and "link" in str(span.style) for span in Text.from_ansi(link).spans)
    assert Text.from_ansi(terminal_log(link)).spans == []


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://runbooks.example.com/auc", True),
        ("http://grafana.internal:3000/d/x", True),
        ("HTTPS://EXAMPLE.COM", True),
        ("javascript:alert(1)", False),
        ("file:///etc/passwd", False),
        ("data:text/html,x", False),
        ("https://", False),
        ("https://example.com/\x1b]0;t\x07", False),
        ("https://example.com/a b", False),
        ("", False),
        (None, False),
    ],
)
def test_only_http_urls_are_links(url: str | None, link: bool) -> None:
    assert web_link(url) == (url if link else None)


def test_the_filter_escapes_text_keeps_the_width_and_drops_unsafe_links() -> None:
    from rich.segment import Segment
    from rich.style import Style
    from textual.color import Color

    line = [
        Segment("a\x1b]0;t\x07b", Style(bold=True)),
        Segment("  link", Style(link="javascript:alert(1)", underline=True)),
        Segment("  ok", Style(link="https://example.com")),
        Segment("          "),
    ]
    filtered = TerminalSafe().apply(line, Color(0, 0, 0))
    assert Segment.get_line_length(filtered) == Segment.get_line_length(line)
    assert "".join(s.text for s in filtered).startswith("a\\x1b]0;t\\x07b  link  ok")
    assert [s.style.link if s.style else None for s in filtered[:3]] == [None, None, "https://example.com"]
    assert filtered[1].style is not None and filtered[1].style.underline
    untouched = [Segment("plain text", Style(link="https://example.com"))]
    assert TerminalSafe().apply(untouched, Color(0, 0, 0)) is untouched


# -- in a real terminal ---------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by scripts/test")
def test_hostile_data_leaves_a_real_terminal_alone(
    demo_store: MlflowSettings,
    alertmanager: AlertmanagerTestbed,
    tmp_path: Path,
    terminal: Callable[[list[str]], Terminal],  # noqa: F811 - the fixture imported above
) -> None:
    """The installed command in tmux at 80x24 with NO_COLOR: opening the run, the model and the
    alert of hostile data leaves the pane's title and tmux's clipboard as they were, and the screen
    shows the escapes instead of being cleared."""
    plant_mlflow(demo_store)
    plant_alert(alertmanager)
    config = write_config(
        tmp_path / "mlops-tui.toml",
        {
            "dev": {
                "models": [HOSTILE_MODEL, "churn"],
                "mlflow": {"tracking_uri": demo_store.tracking_uri},
                "alertmanager": {"url": alertmanager.url, "filters": [str(alertmanager.matcher)]},
            }
        },
        journal=str(tmp_path / "journal.sqlite3"),
    )
    term = terminal(["env", "NO_COLOR=1", *mlops_tui_command(), "--config", str(config)])
    term.tmux("set-option", "-g", "set-clipboard", "on")  # an OSC 52 would fill a paste buffer
    before = term.tmux("display-message", "-p", "-t", term.session, "#{pane_title}")

    def untouched(screen: str) -> None:
        assert "PWN" not in term.tmux("display-message", "-p", "-t", term.session, "#{pane_title}")
        assert term.tmux("list-buffers") == ""
        lines = screen.splitlines()
        assert lines[0].strip() and sum(1 for line in lines if line.strip()) > 5  # nothing cleared it

    screen = term.wait_for(lambda s: "RUNPWN" in s and "EvilAlert" in s, "the hostile rows")
    untouched(screen)
    term.keys("Enter")  # the newest run: the hostile one
    untouched(term.wait_for(lambda s: "PARAMPWN" in s and "\\x1b]0;RUNPWN" in s, "the run screen"))
    term.keys("escape")
    term.wait_for(lambda s: "Models" in s, "the dashboard")
    term.keys("Tab")  # the Models pane: the hostile model is its newest
    term.wait_for(lambda s: "Open" in s.splitlines()[-1] or "Promote" in s.splitlines()[-1], "Models focused")
    term.keys("Enter")
    untouched(term.wait_for(lambda s: "MODPWN" in s, "the model screen"))
    term.keys("escape")
    term.wait_for(lambda s: "Runs" in s, "the dashboard")
    term.keys("a")
    term.wait_for(lambda s: "Silence" in s.splitlines()[-1], "the Alerts pane focused")
    term.keys("Enter")
    untouched(term.wait_for(lambda s: "\\x1b]0;AMPWN" in s, "the triage screen"))
    term.keys("i")  # the alert itself: labels and annotations
    untouched(term.wait_for(lambda s: "not an http(s) link" in s, "the alert screen"))
    assert term.tmux("display-message", "-p", "-t", term.session, "#{pane_title}") == before


# -- headless -------------------------------------------------------------------------------------


def test_headless_text_is_escaped_and_json_exact(
    demo_store: MlflowSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id, _ = plant_mlflow(demo_store)
    with FakeGitlab() as gitlab:
        _, job_id = plant_gitlab(gitlab)
        config = write_config(
            tmp_path / "mlops-tui.toml",
            {
                "dev": {
                    "mlflow": {"tracking_uri": demo_store.tracking_uri},
                    "gitlab": {"url": gitlab.url, "project": "ml/models", "token_env": "GITLAB_TOKEN"},
                }
            },
        )
        env = {"GITLAB_TOKEN": TOKEN, "MLOPS_TUI_CONFIG": str(config)}

        def safe(text: str) -> bool:
            return unsafe_in_output(text) == [] and "\x1b" not in text

        table = run_cli("runs", "show", run_id, env=env)
        assert table.code == 0 and safe(table.stdout), table.stdout
        assert esc("RUNPWN") in table.stdout and esc("PARAMPWN") in table.stdout
        assert "[@click=app.quit]click me[/]" in table.stdout  # markup is text
        exact = run_cli("runs", "show", run_id, "--json", env=env).json()
        assert exact["run"]["name"] == RUN_NAME and exact["run"]["tags"]["note"].startswith("tag\x1b]52;")

        model = run_cli("models", "show", HOSTILE_MODEL, env=env)
        assert model.code == 0 and safe(model.stdout) and esc("MODNAME") in model.stdout

        missing = run_cli("models", "show", f"nope{title('ERRPWN')}", env=env)
        assert missing.code != 0 and safe(missing.stderr)
        assert len(missing.stderr.splitlines()) == 1 and esc("ERRPWN") in missing.stderr

        # A log keeps its colours alone on a terminal, and is plain text for a pipe.
        piped = run_cli("pipelines", "trace", job_id, env=env)
        assert piped.code == 0 and piped.stdout == "start\nred and kept\nclick\nbell\\x07 c1\\x9b2J\n"
        on_a_terminal = _on_a_terminal(["pipelines", "trace", job_id], env)
        assert "\x1b[31mred and kept\x1b[0m" in on_a_terminal and "bell\\x07" in on_a_terminal
        assert "LOGPWN" not in on_a_terminal and "\x1b]" not in on_a_terminal and "\x07" not in on_a_terminal


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """What `mlops-tui ARGS` writes when its standard output is a terminal (a pty)."""
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [*mlops_tui_command(), *args],
            stdout=follower,
            stderr=subprocess.PIPE,
            env={**os.environ, **env},
            timeout=180,
            check=False,
        )
    finally:
        os.close(follower)
    assert done.returncode == 0, done.stderr
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other end is closed and everything is read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return b"".join(chunks).decode().replace("\r\n", "\n")
