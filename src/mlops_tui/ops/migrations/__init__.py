"""The journal's schema, versioned with alembic: one revision a change (`versions/`), applied on
first use by whichever process meets an older journal, under the journal's own lock.

A journal also carries its revision as a number (SQLite's `user_version`, PostgreSQL's
`journal_schema` table), which journals from before alembic already had: a current journal is
recognised from it without loading alembic, and a newer one is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["HEAD", "SCHEMA_VERSION", "upgrade"]

HEAD = "0002"
"""The newest revision this code writes."""
SCHEMA_VERSION = int(HEAD)
"""`HEAD` as the number a journal carries."""
_BEFORE_ALEMBIC = "0001"
"""The revision a journal written before alembic (schema number 1) holds."""


def _script() -> Any:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    return ScriptDirectory.from_config(config)


def known_revisions() -> set[str]:
    """Every revision of `versions/`."""
    return {revision.revision for revision in _script().walk_revisions()}


def upgrade(connection: sa.Connection, *, found: int) -> str | None:
    """Bring the journal at `connection` to `HEAD`, in the caller's transaction.

    `found`: the schema number the journal carries (0: a new journal).

    Returns: None when done; else the revision the journal holds that this code does not know
    (a newer mlops-tui wrote it), with nothing changed.
    """
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationContext

    script = _script()
    current = MigrationContext.configure(connection).get_current_revision()
    if current is not None and current not in known_revisions():
        return current
    if current is None and found >= 1:
        MigrationContext.configure(connection).stamp(script, _BEFORE_ALEMBIC)

    def revisions(revision: Any, context: Any) -> Any:
        return script._upgrade_revs(HEAD, revision)

    with EnvironmentContext(_config(script), script, fn=revisions, destination_rev=HEAD) as environment:
        environment.configure(connection=connection, target_metadata=None)
        environment.run_migrations()
    return None


def _config(script: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", script.dir)
    return config
