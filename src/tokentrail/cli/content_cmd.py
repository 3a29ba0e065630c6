"""``tokentrail keys rotate-content``: re-encrypt stored content with the active content key.

While the server runs this goes through its admin API (it reloads the key file, encrypts new content
with the active key from then on, and re-encrypts the rest); otherwise it opens the store itself."""

from __future__ import annotations

import json
from typing import Any

import click

from tokentrail.cli.access import call_server, open_local, server_running
from tokentrail.cli.options import load_settings, settings_options
from tokentrail.privacy import content_keys, rotation


@click.command("rotate-content")
@click.option("--new-key", is_flag=True, help="First add a new key at the top of the key file (it becomes the "
              "active key; the older ones stay to decrypt what is not re-encrypted yet).")
@settings_options("data_dir", "storage_url", "host", "port", "url", "content_key")
def rotate_content(new_key: bool, **values: Any) -> None:
    """Re-encrypt every content row with the active content key (old rows stay readable meanwhile)."""
    settings = load_settings(values)
    if server_running(settings.url):
        result = call_server("POST", settings.url, "/api/admin/content/rotate", json={"new_key": new_key})
    else:
        try:
            ring = content_keys.load(settings.content_key, settings.data_dir)
            if ring is None:
                raise click.ClickException("content encryption is off (content_key = off): nothing to rotate")
            if new_key:
                ring = content_keys.add_key(ring)
        except content_keys.KeyConfigError as e:
            raise click.ClickException(str(e)) from e
        store = open_local(settings)
        try:
            result = rotation.rotate(store, ring)
            _audit(store, result)
        finally:
            store.close()
    click.echo(json.dumps(result))


def _audit(store: Any, result: dict[str, Any]) -> None:
    try:
        from tokentrail import audit
    except ImportError:
        return
    audit.record(store, actor="cli", action="key.rotate-content", target=result["key_id"],
                 detail=f"{result['rows']} rows re-encrypted, {result['failed']} failed")
    audit.flush(store)
