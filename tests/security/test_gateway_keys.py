"""The gateway and provider keys held per project: a project's key is used only for requests
authenticated as that project, never sent for another one, and a tokentrail key never goes upstream.
The fake provider records which Authorization it received."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fake_llm import FakeLLM
from tests.fake_llm.pytest_plugin import fake_llm, fake_llm_server  # noqa: F401 - fixtures
from tests.security.keyed import ALPHA, BETA, Keyed, keyed_server

ALPHA_PROVIDER_KEY, BETA_PROVIDER_KEY = "sk-alpha-held-by-gateway", "sk-beta-held-by-gateway"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, fake_llm_server: FakeLLM) -> Iterator[Keyed]:  # noqa: F811
    tmp = tmp_path_factory.mktemp("gwkeys")
    config = tmp / "gateway.toml"
    config.write_text(f"""
[upstreams.openai]
base_url = "{fake_llm_server.openai_base_url}"
[upstreams.openai.keys]
{ALPHA} = "{ALPHA_PROVIDER_KEY}"
{BETA} = "{BETA_PROVIDER_KEY}"
[upstreams.open]
base_url = "{fake_llm_server.openai_base_url}"
""")
    with keyed_server(tmp / "data", gateway_config=str(config)) as k:
        yield k


def _client(gw: Keyed, api_key: str, upstream: str = "openai", **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/gateway/{upstream}/v1", api_key=api_key, max_retries=0,
                         default_headers=headers)


def _sent_auth(fake: FakeLLM) -> list[str]:
    return [r["headers"].get("authorization", "") for r in fake.requests_to("/v1/chat/completions")]


def test_a_project_key_authenticates_and_its_provider_key_is_used(gw: Keyed, fake_llm: FakeLLM) -> None:  # noqa: F811
    _client(gw, gw.keys["alpha_ingest"]).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    _client(gw, "unused", **{"X-Tokentrail-Key": gw.keys["beta_ingest"]}).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO)
    assert _sent_auth(fake_llm) == [f"Bearer {ALPHA_PROVIDER_KEY}", f"Bearer {BETA_PROVIDER_KEY}"]


def test_naming_another_project_never_spends_its_key(gw: Keyed, fake_llm: FakeLLM) -> None:  # noqa: F811
    for client in (_client(gw, gw.keys["beta_ingest"], **{"X-Tokentrail-Project": ALPHA}),
                   _client(gw, "sk-anything", **{"X-Tokentrail-Project": ALPHA}),
                   _client(gw, gw.keys["alpha_read"])):  # a key of the project, without the ingest scope
        with pytest.raises(openai.APIStatusError) as err:
            client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert err.value.status_code in (401, 403)
    assert _sent_auth(fake_llm) == []


def test_a_tokentrail_key_never_goes_upstream(gw: Keyed, fake_llm: FakeLLM) -> None:  # noqa: F811
    # the provider key is the client's own: the tokentrail key rides beside it, and is removed
    _client(gw, "sk-client-own", "open", **{"X-Tokentrail-Key": gw.keys["alpha_ingest"]}).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO)
    sent = fake_llm.requests_to("/v1/chat/completions")[-1]["headers"]
    assert sent["authorization"] == "Bearer sk-client-own"
    assert "tt_" not in str(sent)
    # a tokentrail key where the provider key goes, on an upstream holding no key for the project: refused
    with pytest.raises(openai.BadRequestError) as err:
        _client(gw, gw.keys["alpha_ingest"], "open").chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert "X-Tokentrail-Key" in str(err.value)
    assert len(fake_llm.requests_to("/v1/chat/completions")) == 1


def test_the_index_does_not_say_which_projects_hold_keys(gw: Keyed) -> None:
    with gw.client("alpha_ingest") as c:
        index = c.get("/gateway/").text
    assert ALPHA not in index and BETA not in index and "sk-" not in index
    with gw.client() as c:
        assert c.get("/gateway/").status_code == 401


def test_recorded_calls_land_in_the_key_s_project(gw: Keyed, fake_llm: FakeLLM) -> None:  # noqa: F811
    _client(gw, gw.keys["beta_ingest"]).chat.completions.create(model="gpt-4o-mini", messages=HELLO,
                                                                 extra_headers={"X-Tokentrail-Route": "gw-isolation"})
    rows = gw.query("SELECT DISTINCT project FROM tokentrail.spans FINAL WHERE route = 'gw-isolation'")
    assert [r["project"] for r in rows] == [BETA]
