"""The module-scoped run of one instrumentation library (see harness.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.interop.capture import LIBS
from tests.interop.harness import ROOT, Run, require, serves
from tests.support import running_server


@pytest.fixture(scope="module")
def library_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    lib = request.module.LIB
    require(lib)
    assert lib in LIBS
    tmp = tmp_path_factory.mktemp(f"interop-{lib}")
    with running_server(tmp / "data", **getattr(request.module, "SERVER_SETTINGS", {})) as server:
        for path in getattr(request.module, "NEEDS_PATHS", ()):
            assert serves(server, path), f"the server has no {path} (needed by {lib})"
        windows = tmp / "windows.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACELOOP_", "LANGFUSE_"))}
        proc = subprocess.run([sys.executable, "-m", "tests.interop.capture", "--export", lib, server.url,
                               str(windows)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        if not windows.exists():
            pytest.fail(f"{lib} run failed (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
        data = json.loads(windows.read_text())
        server.flush()
        yield Run(lib, server, data["windows"], data["errors"], data["versions"])


