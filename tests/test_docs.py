"""The docs stay honest: the generated references match the code (every setting, CLI option and route is
documented), the site builds with ``mkdocs build --strict`` (no broken link or anchor), and the README
stays a short entry point whose links all land."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import click

from tokentrail import docs
from tokentrail.config import PARAMS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
REFERENCE = ROOT / "docs" / "reference"


def test_generated_references_are_current() -> None:
    stale = [str(p.relative_to(ROOT)) for p in docs.stale(ROOT)]
    assert not stale, f"stale generated docs {stale}: run `python -m tokentrail.docs` and commit them"


def test_every_setting_is_in_the_configuration_reference() -> None:
    text = (REFERENCE / "configuration.md").read_text()
    for p in PARAMS:
        assert p.env in text and f'<a id="{p.name}"></a>' in text, p.name


def test_every_cli_command_and_option_is_in_the_cli_reference() -> None:
    from tokentrail.cli.main import main

    text = (REFERENCE / "cli.md").read_text()
    sections = {m.group(1): m.group(2) for m in re.finditer(r"^## (tokentrail[^\n]*)\n(.*?)(?=^## |\Z)", text,
                                                            re.M | re.S)}
    commands = list(docs._commands(main, ["tokentrail"]))
    assert len(commands) > 20 and set(sections) == {" ".join(path) for path, _ in commands}
    for path, cmd in commands:
        section = sections[" ".join(path)]
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert f"`{param.opts[0]}`" in section, f"{' '.join(path)} {param.opts[0]}"


def test_every_route_is_in_the_api_reference() -> None:
    text = (REFERENCE / "api.md").read_text()
    paths = docs.openapi_document()["paths"]
    assert len(paths) > 40
    for path, ops in paths.items():
        for method in ops:
            assert f"### {method.upper()} `{path}`" in text


def test_the_site_builds_strict(tmp_path: Path) -> None:
    """What CI builds: any warning (a page left out of the nav, a link to a missing page or anchor) fails."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's end-of-life banner, not a docs problem
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-4000:]
    built = tmp_path / "site"
    for page in ("index.html", "reference/configuration/index.html", "reference/cli/index.html",
                 "reference/api/index.html", "instrumentation/index.html", "operations/index.html"):
        assert (built / page).is_file(), page
    assert "tokentrail serve" in (built / "reference" / "cli" / "index.html").read_text()


def test_readme_starts_with_the_install_and_test_commands() -> None:
    text = README.read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert block[0].startswith("pip install . && tokentrail serve")
    assert "python -m pytest" in block[1]


def test_readme_is_a_short_entry_point() -> None:
    """The rest lives in docs/: the README holds the commands, a picture, a tour and links (and the
    benchmark block that bench/run_all.py --readme writes, not counted here)."""
    text = re.sub(r"<!-- bench-results:start -->.*?<!-- bench-results:end -->", "", README.read_text(), flags=re.S)
    assert len(text.encode()) < 16_000, "move the detail to a page under docs/ and link it"


def _github_anchor(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_readme_links_land() -> None:
    """GitHub renders the README: every relative link names a file that exists, and a heading in it."""
    text = README.read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert len(local) > 15
    for link in local:
        target, _, anchor = link.partition("#")
        path = ROOT / target
        assert path.is_file(), f"README links to {link}: no such file"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", path.read_text(), re.M)
            assert anchor in {_github_anchor(h) for h in headings}, f"README links to {link}: no such heading"


def test_the_readme_keeps_the_generated_benchmark_block() -> None:
    text = README.read_text()
    assert text.count("<!-- bench-results:start -->") == 1 and text.count("<!-- bench-results:end -->") == 1


def test_every_dependency_says_why() -> None:
    """docs/dependencies.md names every package pyproject.toml installs, extras included."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    page = (ROOT / "docs" / "dependencies.md").read_text().lower()
    for requirement in wanted:
        name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0).lower()  # type: ignore[union-attr]
        assert name in page, f"docs/dependencies.md does not say why {name} is a dependency"
