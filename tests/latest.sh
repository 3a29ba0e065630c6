#!/bin/sh
# Run the suite against the NEWEST releases of everything `.[dev]` names (openai, anthropic, OTel, ...)
# instead of the versions pinned in constraints.txt, so drift in the real libraries is found by us, not
# by users. Use a throwaway venv: it upgrades packages in place.
#   python -m venv /tmp/latest && . /tmp/latest/bin/activate && sh tests/latest.sh
# The instrumentation libraries stay at tests/interop/requirements.txt's versions (install.sh's
# --no-deps steps are tied to them); everything they resolve against is the newest release.
set -eu
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade --upgrade-strategy eager -e '.[dev]'
lock=$(mktemp)
python -m pip freeze --exclude-editable | grep -v '^tokentrail' > "$lock"
echo "tests/latest.sh: testing against"; grep -iE '^(openai|anthropic|opentelemetry-sdk|protobuf|chdb)==' "$lock"
TOKENTRAIL_CONSTRAINTS="$lock" sh tests/interop/install.sh
python -m pytest -q "$@"
