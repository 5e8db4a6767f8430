"""The docs stay true to the code: generated pages in step, every relative link resolving, and the
README keeping what a newcomer needs first."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_docs", module)
    spec.loader.exec_module(module)
    return module


gen_docs = _generator()
PAGES = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "benchmarks" / "README.md"]
    + list((ROOT / "docs").rglob("*.md"))
)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The text outside fenced code blocks."""
    return _FENCE.sub("", text)


def links(page: Path) -> list[str]:
    """Every link target of a page, outside code."""
    return _LINK.findall(_CODE.sub("", _prose(page.read_text(encoding="utf-8"))))


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings."""
    headings = _HEADING.findall(_prose(page.read_text(encoding="utf-8")))
    return {gen_docs.anchor(h.replace("`", "")) for h in headings}


@pytest.mark.parametrize("page", list(gen_docs.PAGES))
def test_generated_pages_are_in_step_with_the_code(page: str) -> None:
    assert (ROOT / page).read_text(encoding="utf-8") == gen_docs.regenerated(page), (
        f"{page} is stale: run .venv/bin/python scripts/gen_docs.py"
    )


def test_the_configuration_page_documents_every_table_and_key() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for table in ("### `[environments.NAME.mlflow]`", "### `[[environments.NAME.rules]]`"):
        assert table in text
    for key in ("`tracking_uri`", "`journal_password_env`", "`pipeline_template`", "`no_critical_alerts`"):
        assert f"| {key} |" in text


def test_the_keys_page_lists_every_binding_the_tui_declares() -> None:
    text = (ROOT / "docs" / "keys.md").read_text(encoding="utf-8")
    declared = {binding.id for _, binding in gen_docs.declared_bindings()}
    assert declared and all(f"| `{binding_id}` |" in text for binding_id in declared)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http(s), mailto: not checked here
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_readme_keeps_the_quick_start_and_team_set_up() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert (
        "./scripts/demo     # install mlops-tui (runtime deps only), fill the local demo store, "
        "open the TUI\n"
        "./scripts/test     # install what the tests run (full MLflow, Airflow in a venv of its own; tmux, "
        "Alertmanager, Prometheus, Pushgateway, PostgreSQL), run the whole suite\n"
    ) in readme
    assert "\n## Working as a team\n" in readme
    assert 'journal = "postgresql+psycopg://' in readme
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "### Approvals" in operations and "approvals approve" in operations
