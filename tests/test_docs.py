"""The docs stay honest: generated README tables match the code, every setting is documented."""

from __future__ import annotations

from pathlib import Path

from tokentrail.config import PARAMS
from tokentrail.docs import render

README = Path(__file__).resolve().parents[1] / "README.md"


def test_generated_readme_tables_are_current() -> None:
    text = README.read_text()
    assert render(text) == text, "run `python -m tokentrail.docs README.md`"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text()
    for p in PARAMS:
        assert p.env in text


def test_readme_starts_with_the_install_and_test_commands() -> None:
    text = README.read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert block[0].startswith("pip install . && tokentrail serve")
    assert "python -m pytest" in block[1]
