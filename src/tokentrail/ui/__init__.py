"""The web UI: our own static HTML, CSS and JavaScript (no build step, no third-party code).

``static/`` holds the single-page app; ``server/routes/ui.py`` serves it at ``/ui/``.
Every number it shows comes from the dashboard JSON API (``/api/...``).
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX_HTML = STATIC_DIR / "index.html"
