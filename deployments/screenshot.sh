#!/usr/bin/env bash
# Screenshot of the local Prefect UI (`make server`) with headless Chromium (Debian: `apt-get
# install -y chromium`): the latest completed `daily-brief` flow run, or the deployments page
# when there is none yet.
#
#   deployments/screenshot.sh [output.png]        default docs/img/prefect-ui.png
#
# Environment: PREFECT_LOCAL_HOST (127.0.0.1), PREFECT_LOCAL_PORT (4200), CHROMIUM (chromium).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/docs/img/prefect-ui.png}"
UI="http://${PREFECT_LOCAL_HOST:-127.0.0.1}:${PREFECT_LOCAL_PORT:-4200}"
API="$UI/api"
CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"

[[ -n "$CHROMIUM" ]] || { echo "chromium not found (Debian: apt-get install -y chromium)" >&2; exit 1; }
curl -fsS --max-time 5 "$API/health" >/dev/null || { echo "no Prefect server at $API; run \`make server\`" >&2; exit 1; }

# The newest COMPLETED run of the daily-brief flow, through the REST API.
run_id="$(curl -fsS --max-time 10 -X POST "$API/flow_runs/filter" -H 'Content-Type: application/json' \
    -d '{"flows": {"name": {"any_": ["daily-brief"]}},
         "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
         "sort": "END_TIME_DESC", "limit": 1}' \
    | "$ROOT/.venv/bin/python" -c 'import json, sys; runs = json.load(sys.stdin); print(runs[0]["id"] if runs else "")')"

if [[ -n "$run_id" ]]; then
    page="$UI/v2/runs/flow-run/$run_id"
else
    page="$UI/v2/deployments"
fi

mkdir -p "$(dirname "$OUT")"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
# --virtual-time-budget gives the single-page app time to fetch and render before the capture.
timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --window-size=1400,900 --virtual-time-budget=15000 \
    --screenshot="$OUT" "$page" >/dev/null 2>&1
[[ -s "$OUT" ]] || { echo "no screenshot written" >&2; exit 1; }
echo "screenshot of $page -> $OUT"
