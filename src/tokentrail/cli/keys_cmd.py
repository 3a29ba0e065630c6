"""``tokentrail keys``: create, list and revoke API keys.

Through the running server when one answers (with ``TOKENTRAIL_API_KEY``, an admin key; none is
needed while the server is open, which is how the first key is made), else directly on the store.
The raw key is printed once, on its own line, and never again.
"""

from __future__ import annotations

import getpass
import json
from typing import Any

import click

from tokentrail.auth.keys import SCOPES, create_key, load_keys, parse_duration, revoke_key
from tokentrail.cli.access import call_server, open_local, server_running
from tokentrail.cli.options import load_settings, settings_options
from tokentrail.errors import TokentrailError

_WHERE = ("url", "host", "port", "data_dir", "storage_url")


def _audit(store: Any, action: str, key: dict[str, Any]) -> None:
    try:
        from tokentrail import audit
    except ImportError:  # the audit log is optional for this command
        return
    audit.record(store, actor=f"cli:{getpass.getuser()}", action=action, project=key["project"],
                 target=key["prefix"], detail=f"scopes {','.join(key['scopes'])}; name {key['name']!r}")
    audit.close(store)


@click.group()
def keys() -> None:
    """API keys: create, list, revoke (see docs/auth.md)."""


@keys.command()
@settings_options(*_WHERE)
@click.option("--project", required=True, help="Project of the key, or '*' for a server-wide key.")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES),
              help="Scope (repeat for several): ingest, read, read-content, metrics, admin.")
@click.option("--expires", default=None, help="Expire after this long: 90m, 12h, 30d, 4w (default: never).")
@click.option("--name", default="", help="What the key is for (shown in listings).")
def create(project: str, scopes: tuple[str, ...], expires: str | None, name: str, **values: Any) -> None:
    """Make a key and print it (once: it is stored hashed)."""
    settings = load_settings(values)
    try:
        expires_in = parse_duration(expires) if expires else None
    except TokentrailError as e:
        raise click.BadParameter(e.message, param_hint="--expires") from e
    if server_running(settings.url):
        doc = call_server("POST", settings.url, "/api/admin/keys",
                          json={"project": project, "scopes": list(scopes), "name": name, "expires": expires})
        raw = doc.pop("key")
    else:
        store = open_local(settings, create=True)
        try:
            raw, key = create_key(store, project, scopes, name=name, expires_in=expires_in,
                                  created_by=f"cli:{getpass.getuser()}")
            doc = key.describe()
            _audit(store, "key.create", doc)
        except TokentrailError as e:
            raise click.ClickException(e.message) from e
        finally:
            store.close()
    click.echo(raw)
    until = f", expires {doc['expires_at']}" if doc.get("expires_at") else ""
    click.echo(f"key {doc['prefix']} for project {doc['project']}: {', '.join(doc['scopes'])}{until}. "
               "It is shown only now: keep it (e.g. TOKENTRAIL_API_KEY).", err=True)


@keys.command("list")
@settings_options(*_WHERE)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_keys(as_json: bool, **values: Any) -> None:
    """Keys by prefix, project, scopes and state (never the key itself)."""
    settings = load_settings(values)
    if server_running(settings.url):
        rows = call_server("GET", settings.url, "/api/admin/keys")["keys"]
    else:
        store = open_local(settings)
        try:
            rows = [k.describe() for k in load_keys(store)]
        finally:
            store.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for k in rows:
        until = f"  expires {k['expires_at']}" if k["expires_at"] else ""
        click.echo(f"{k['prefix']}  {k['project']:<20} {','.join(k['scopes']):<28} {k['state']:<8} "
                   f"{k['name']}{until}")


@keys.command()
@settings_options(*_WHERE)
@click.argument("prefix")
def revoke(prefix: str, **values: Any) -> None:
    """Revoke the key named by PREFIX (as listed, e.g. tt_9f3a1cb2) or its key id."""
    settings = load_settings(values)
    if server_running(settings.url):
        doc = call_server("DELETE", settings.url, f"/api/admin/keys/{prefix}")
    else:
        store = open_local(settings)
        try:
            doc = revoke_key(store, prefix).describe()
            _audit(store, "key.revoke", doc)
        except TokentrailError as e:
            raise click.ClickException(e.message) from e
        finally:
            store.close()
    click.echo(f"revoked {doc['prefix']} (project {doc['project']})")


from tokentrail.cli.content_cmd import rotate_content  # noqa: E402 (helper D: content keys)

keys.add_command(rotate_content)
