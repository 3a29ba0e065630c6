"""Named queries: the UI, CLI, HTTP API, Grafana panels and alerts call these same
functions, so a number means the same thing everywhere. All SQL reading spans lives here."""
