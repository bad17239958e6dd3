#!/usr/bin/env bash
# Run opscadence like production on one machine: a Prefect server, a process work pool and a
# worker, all under .opscadence/ (PREFECT_HOME, logs, pids). Called by `make server|deploy|stop`.
#
#   deployments/local.sh server      start the server (127.0.0.1:4200), wait for /api/health,
#                                    create the `opscadence` process work pool, start a worker
#   deployments/local.sh deploy      `prefect deploy --all` (non-interactive) against that server
#   deployments/local.sh run [DAY]   run the daily-brief deployment (as_of=DAY, YYYY-MM-DD;
#                                    default: the day that just ended) and watch it finish
#   deployments/local.sh stop        stop the worker, then the server
#   deployments/local.sh status      what is running
#
# Environment: PREFECT_LOCAL_HOST (127.0.0.1), PREFECT_LOCAL_PORT (4200), OPSCADENCE_WORK_POOL
# (opscadence), PREFECT_BIN (.venv/bin/prefect). The worker inherits the caller's OPSCADENCE_*
# and SLACK_* environment; flows read opscadence.yaml from the repository root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

HOST="${PREFECT_LOCAL_HOST:-127.0.0.1}"
PORT="${PREFECT_LOCAL_PORT:-4200}"
POOL="${OPSCADENCE_WORK_POOL:-opscadence}"
PREFECT="${PREFECT_BIN:-$ROOT/.venv/bin/prefect}"
RUN_DIR="$ROOT/.opscadence"
SERVER_PID="$RUN_DIR/prefect-server.pid"
SERVER_LOG="$RUN_DIR/prefect-server.log"
WORKER_PID="$RUN_DIR/prefect-worker.pid"
WORKER_LOG="$RUN_DIR/prefect-worker.log"

# A self-contained Prefect: its own home (database, profiles), this server, no telemetry, no prompts.
export PREFECT_HOME="$RUN_DIR/prefect"
export PREFECT_API_URL="http://$HOST:$PORT/api"
export PREFECT_UI_URL="http://$HOST:$PORT"
export PREFECT_SERVER_API_HOST="$HOST"
export PREFECT_SERVER_API_PORT="$PORT"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT=false
export PREFECT_CLI_PROMPT=false
export DO_NOT_TRACK=1
export GX_ANALYTICS_ENABLED=false

mkdir -p "$PREFECT_HOME"

running() {  # running <pidfile>: the process recorded there is alive
    [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

healthy() {
    curl -fsS --max-time 2 "$PREFECT_API_URL/health" >/dev/null 2>&1
}

stop_pid() {  # stop_pid <pidfile> <name>: TERM its process group, wait, KILL if needed
    local pidfile="$1" name="$2" pid
    if ! running "$pidfile"; then
        rm -f "$pidfile"
        echo "$name: not running"
        return 0
    fi
    pid="$(cat "$pidfile")"
    # Started with setsid, so the pid is its process group's id: this reaches its children too.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    echo "$name: stopped (pid $pid)"
}

start_server() {
    if running "$SERVER_PID"; then
        echo "server: already running (pid $(cat "$SERVER_PID")) at $PREFECT_UI_URL"
    else
        if healthy; then
            echo "something else already answers on $PREFECT_API_URL; stop it or set PREFECT_LOCAL_PORT" >&2
            exit 1
        fi
        setsid nohup "$PREFECT" server start --host "$HOST" --port "$PORT" --analytics-off \
            >"$SERVER_LOG" 2>&1 </dev/null &
        echo $! >"$SERVER_PID"
        echo "server: starting (pid $!, log $SERVER_LOG)"
    fi
    for _ in $(seq 1 120); do
        if healthy; then
            echo "server: healthy at $PREFECT_API_URL (UI $PREFECT_UI_URL)"
            break
        fi
        if ! running "$SERVER_PID"; then
            echo "server: exited during start; last lines of $SERVER_LOG:" >&2
            tail -n 30 "$SERVER_LOG" >&2
            exit 1
        fi
        sleep 1
    done
    healthy || { echo "server: not healthy after 120 s (log $SERVER_LOG)" >&2; exit 1; }

    if "$PREFECT" work-pool inspect "$POOL" >/dev/null 2>&1; then
        echo "work pool: $POOL exists"
    else
        "$PREFECT" work-pool create "$POOL" --type process >/dev/null
        echo "work pool: $POOL created (process)"
    fi

    if running "$WORKER_PID"; then
        echo "worker: already running (pid $(cat "$WORKER_PID"))"
    else
        setsid nohup "$PREFECT" worker start --pool "$POOL" --type process --name "$POOL-local" \
            >"$WORKER_LOG" 2>&1 </dev/null &
        echo $! >"$WORKER_PID"
        echo "worker: started on pool $POOL (pid $!, log $WORKER_LOG)"
    fi
}

deploy() {
    healthy || { echo "no Prefect server at $PREFECT_API_URL; run \`make server\` first" >&2; exit 1; }
    "$PREFECT" --no-prompt deploy --all
}

run_daily() {
    healthy || { echo "no Prefect server at $PREFECT_API_URL; run \`make server\` first" >&2; exit 1; }
    local args=(deployment run daily-brief/daily-brief --watch)
    [[ -n "${1:-}" ]] && args+=(--param "as_of=$1")
    "$PREFECT" "${args[@]}"
}

status() {
    if running "$SERVER_PID"; then echo "server: pid $(cat "$SERVER_PID"), $(healthy && echo healthy || echo 'not healthy')"; else echo "server: not running"; fi
    if running "$WORKER_PID"; then echo "worker: pid $(cat "$WORKER_PID")"; else echo "worker: not running"; fi
    echo "UI: $PREFECT_UI_URL   API: $PREFECT_API_URL   PREFECT_HOME: $PREFECT_HOME"
}

case "${1:-}" in
    server) start_server ;;
    deploy) deploy ;;
    run) run_daily "${2:-}" ;;
    stop)
        stop_pid "$WORKER_PID" worker
        stop_pid "$SERVER_PID" server
        ;;
    status) status ;;
    *)
        echo "usage: $0 server|deploy|run [YYYY-MM-DD]|stop|status" >&2
        exit 2
        ;;
esac
