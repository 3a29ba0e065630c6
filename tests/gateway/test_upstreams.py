"""Upstream configuration: built-ins, the config file (TOML or JSON), keys from the environment, URLs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokentrail.gateway.upstreams import GatewayConfigError, Upstream, load_upstreams


def test_built_in_upstreams_without_a_file() -> None:
    ups = load_upstreams("")
    assert ups["openai"].base_url == "https://api.openai.com/v1" and ups["openai"].format == "openai"
    assert ups["anthropic"].base_url == "https://api.anthropic.com" and ups["anthropic"].format == "anthropic"


def test_toml_file_overrides_and_adds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TT_TEST_OR_KEY", "sk-or-1")
    f = tmp_path / "gw.toml"
    f.write_text(
        '[upstreams.openai]\nbase_url = "http://proxy.local/v1/"\n'
        '[upstreams.openrouter]\nbase_url = "https://openrouter.ai/api/v1"\nheaders = { X-Title = "app" }\n'
        '[upstreams.openrouter.keys]\nteam-a = "env:TT_TEST_OR_KEY"\n'
    )
    ups = load_upstreams(str(f))
    assert ups["openai"].base_url == "http://proxy.local/v1" and ups["openai"].format == "openai"
    assert ups["anthropic"].base_url == "https://api.anthropic.com"
    router = ups["openrouter"]
    assert (router.provider, router.keys, router.headers) == (
        "openrouter",
        {"team-a": "sk-or-1"},
        (("X-Title", "app"),),
    )
    assert "sk-or-1" not in repr(router) and "sk-or-1" not in json.dumps(router.describe())


def test_json_file(tmp_path: Path) -> None:
    f = tmp_path / "gw.json"
    f.write_text(
        json.dumps({"upstreams": {"claude-proxy": {"base_url": "http://c.local", "format": "anthropic"}}})
    )
    assert load_upstreams(str(f))["claude-proxy"].format == "anthropic"


@pytest.mark.parametrize(
    "text, message",
    [
        ('[upstreams.x]\nbase_url = "ftp://x"', "http(s) URL"),
        ('[upstreams.x]\nbase_url = "http://x"\nformat = "gemini"', "format"),
        ('[upstreams.x]\nbase_url = "http://x"\nbase = 1', "unknown setting"),
        (
            '[upstreams.x]\nbase_url = "http://x"\n[upstreams.x.keys]\np = "env:TT_SURELY_UNSET_VAR"',
            "not set",
        ),
        ('[upstreams.Bad_Name]\nbase_url = "http://x"', "upstream name"),
        ("upstreams = 3", "'upstreams' table"),
        ("not toml [", "not valid"),
    ],
)
def test_invalid_config_is_refused_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "gw.toml"
    f.write_text(text)
    with pytest.raises(GatewayConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_upstreams(str(f))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GatewayConfigError, match="cannot read"):
        load_upstreams(str(tmp_path / "nope.toml"))


@pytest.mark.parametrize(
    "base, path, url",
    [
        ("https://api.openai.com/v1", "/v1/chat/completions", "https://api.openai.com/v1/chat/completions"),
        ("https://api.openai.com/v1", "/chat/completions", "https://api.openai.com/v1/chat/completions"),
        ("https://api.anthropic.com", "/v1/messages", "https://api.anthropic.com/v1/messages"),
        (
            "https://g.example/v1beta/openai",
            "/chat/completions",
            "https://g.example/v1beta/openai/chat/completions",
        ),
    ],
)
def test_upstream_url_does_not_double_v1(base: str, path: str, url: str) -> None:
    assert Upstream("x", base).url(path) == url
    assert Upstream("x", base).url(path, b"a=1&b=%20") == url + "?a=1&b=%20"
