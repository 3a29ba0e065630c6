from tests.fake_llm.pytest_plugin import fake_llm, fake_llm_server

__all__ = ["fake_llm", "fake_llm_server"]
