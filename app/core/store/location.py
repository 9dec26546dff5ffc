"""Where the library file lives: $ALBERT_STUDIO_DB, else library.db in the user data folder."""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ALBERT_STUDIO_DB"


def default_db_path() -> Path:
    """The library file: $ALBERT_STUDIO_DB, else library.db in the user data folder (created if missing)."""
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir("albert-studio")) / "library.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
