"""``tokentrail accounts``: UI accounts (sign-in with a name and a password), made by an admin.

While the server runs this goes through ``/api/admin/accounts`` (a server-wide admin key from
``TOKENTRAIL_API_KEY`` when the server needs one); otherwise it writes the store itself."""

from __future__ import annotations

import getpass
import secrets
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from tokentrail import audit
from tokentrail.auth import accounts
from tokentrail.cli.access import call_server, open_local, server_running
from tokentrail.cli.options import load_settings, settings_options
from tokentrail.config import Settings
from tokentrail.errors import TokentrailError

SERVER_OPTIONS = ("data_dir", "storage_url", "host", "port", "url")


@click.group("accounts")
def accounts_cmd() -> None:
    """UI accounts: made by an admin, each with projects, scopes and a password (hashed with scrypt)."""


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated): from stdin, typed twice at a terminal, or made up and shown once."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True), False
    return secrets.token_urlsafe(15), True


def _local(settings: Settings, fn: Any, *args: Any, action: str = "", target: str = "", detail: str = "") -> Any:
    store = open_local(settings, create=action == "account.create")
    try:
        result = fn(store, *args)
        if action:
            audit.record(store, actor=f"cli:{getpass.getuser()}", action=action, target=target, detail=detail)
        return result
    except TokentrailError as e:
        raise click.ClickException(e.message) from e
    finally:
        audit.close(store)
        store.close()


@accounts_cmd.command("create")
@click.argument("name")
@click.option("--project", "projects", multiple=True, required=True,
              help="A project the account may read (repeat for several; '*' for every project).")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="read, read-content (prompts and responses), ingest or admin (repeat for several).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin "
              "(default: asked twice at a terminal; otherwise one is made up and shown once).")
@settings_options(*SERVER_OPTIONS)
def create_cmd(name: str, projects: tuple[str, ...], scopes: tuple[str, ...], password_stdin: bool,
               **values: Any) -> None:
    """Make an account NAME that signs in to the UI."""
    settings = load_settings(values)
    try:
        accounts.check_account(name, projects, scopes)
    except TokentrailError as e:
        raise click.ClickException(e.message) from e
    password, generated = _password(password_stdin)
    if server_running(settings.url):
        d = call_server("POST", settings.url, "/api/admin/accounts",
                        json={"name": name, "projects": list(projects), "scopes": list(scopes), "password": password})
    else:
        account = _local(settings, accounts.create_account, name, projects, scopes, password, "cli",
                         action="account.create", target=f"user:{name}",
                         detail=f"projects {','.join(projects)}; scopes {','.join(scopes)}")
        d = account.describe()
    click.echo(f"account {d['name']}: projects {', '.join(d['projects'])}; scopes {', '.join(d['scopes'])}")
    if generated:
        click.echo(f"password (shown once): {password}")


@accounts_cmd.command("list")
@settings_options(*SERVER_OPTIONS)
def list_cmd(**values: Any) -> None:
    """List accounts: projects, scopes, state."""
    settings = load_settings(values)
    if server_running(settings.url):
        rows = call_server("GET", settings.url, "/api/admin/accounts")["accounts"]
    else:
        rows = [a.describe() for a in _local(settings, accounts.load_accounts)]
    if not rows:
        click.echo("no accounts")
        return
    table = Table("name", "projects", "scopes", "state", "created", "by")
    for r in rows:
        table.add_row(r["name"], ", ".join(r["projects"]), ", ".join(r["scopes"]), r["state"], r["created_at"][:19],
                      r["created_by"])
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@accounts_cmd.command("disable")
@click.argument("name")
@settings_options(*SERVER_OPTIONS)
def disable_cmd(name: str, **values: Any) -> None:
    """Disable account NAME: it can no longer sign in, and its open sessions stop within seconds."""
    settings = load_settings(values)
    if server_running(settings.url):
        call_server("POST", settings.url, f"/api/admin/accounts/{name}/disable")
    else:
        _local(settings, accounts.disable_account, name, action="account.disable", target=f"user:{name}")
    click.echo(f"account {name} disabled")


@accounts_cmd.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from the first line of stdin.")
@settings_options(*SERVER_OPTIONS)
def password_cmd(name: str, password_stdin: bool, **values: Any) -> None:
    """Give account NAME a new password."""
    settings = load_settings(values)
    password, generated = _password(password_stdin)
    if server_running(settings.url):
        call_server("POST", settings.url, f"/api/admin/accounts/{name}/password", json={"password": password})
    else:
        _local(settings, accounts.set_password, name, password, action="account.password", target=f"user:{name}")
    click.echo(f"account {name}: password changed" + (f" to (shown once): {password}" if generated else ""))
