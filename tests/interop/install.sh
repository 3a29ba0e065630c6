#!/bin/sh
# Install the third-party GenAI instrumentation libraries that tests/interop runs (issue #11), after
# `pip install -e '.[dev]'`. Idempotent: does nothing when every pin of requirements.txt is installed.
#
# Why not one `pip install`: every step goes through the project's one lock, constraints.txt at the
# root (or $TOKENTRAIL_CONSTRAINTS: tests/latest.sh passes a freeze of the newest releases), which pins
# everything CI installs so nothing is downgraded and every run installs the same versions, and
# * traceloop-sdk needs opentelemetry-instrumentation-{sqlalchemy,threading,urllib3}, never published
#   at 0.66b2 (their 0.66b1 pins the whole core to 0.66b1): its other deps resolve normally, then
#   traceloop-sdk and those three install with --no-deps (they work at runtime);
# * every openlit release requires openai<3 and anthropic<1: its deps resolve normally, then openlit
#   and the contrib instrumentations it imports that have no 0.66b2 install with --no-deps.
# `pip check` lists those pins afterwards; that is expected.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python}
c=${TOKENTRAIL_CONSTRAINTS:-$here/../../constraints.txt}

if "$py" - "$here/requirements.txt" <<'PY'
import importlib.metadata as md
import sys

missing = []
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, version = line.split("==")
    try:
        if md.version(name) != version:
            missing.append(line)
    except md.PackageNotFoundError:
        missing.append(line)
sys.exit(1 if missing else 0)
PY
then
    echo "tests/interop: instrumentation libraries already installed"
    exit 0
fi

pip_() { "$py" -m pip install --disable-pip-version-check -q "$@"; }

# 1. the libraries that resolve cleanly
pip_ -c "$c" opentelemetry-instrumentation-openai-v2==2.4b0 opentelemetry-util-genai==0.4b0 \
    openinference-instrumentation==0.1.72 openinference-instrumentation-openai==0.1.66 \
    openinference-instrumentation-anthropic==3.1.0 openinference-semantic-conventions==0.1.42 langfuse==5.0.4

# 2. traceloop-sdk: its dependencies, then itself and three 0.66b1 instrumentations without theirs
pip_ -c "$c" -r "$here/traceloop-deps.txt" opentelemetry-instrumentation-openai==0.62.4 \
    opentelemetry-instrumentation-anthropic==0.62.4 opentelemetry-semantic-conventions-ai==0.5.1
pip_ -c "$c" --no-deps traceloop-sdk==0.62.4 opentelemetry-instrumentation-sqlalchemy==0.66b1 \
    opentelemetry-instrumentation-threading==0.66b1 opentelemetry-instrumentation-urllib3==0.66b1

# 3. openlit: its dependencies, then itself and the 0.66b1-only contrib instrumentations without theirs
pip_ -c "$c" "boto3>=1.34,<2" "botocore>=1.34,<2" "opentelemetry-exporter-otlp>=1.38,<2" "schedule>=1.2.2,<2" \
    "xmltodict>=0.13,<2" opentelemetry-instrumentation-asgi opentelemetry-instrumentation-django \
    opentelemetry-instrumentation-fastapi opentelemetry-instrumentation-httpx opentelemetry-instrumentation-requests
pip_ -c "$c" --no-deps openlit==1.45.0 opentelemetry-instrumentation-aiohttp-client==0.66b1 \
    opentelemetry-instrumentation-falcon==0.66b1 opentelemetry-instrumentation-flask==0.66b1 \
    opentelemetry-instrumentation-pyramid==0.66b1 opentelemetry-instrumentation-starlette==0.66b1 \
    opentelemetry-instrumentation-tornado==0.66b1 opentelemetry-instrumentation-urllib==0.66b1

"$py" -c "import openai, anthropic, opentelemetry.sdk, traceloop.sdk, openlit, langfuse, openinference.instrumentation.openai"
echo "tests/interop: instrumentation libraries installed"
