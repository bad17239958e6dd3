# opscadence — two commands for a fresh machine: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

# Telemetry off for Prefect, its server and Great Expectations.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false

.PHONY: demo test install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make demo: install, generate the demo shop (and its history), run the daily flow for the latest complete day
demo: $(VENV)/.installed
	$(BIN)/opscadence demo --history
	$(BIN)/opscadence run daily

## make test: install the dev extras and run the whole test suite
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .opscadence .pytest_cache

# --- run it like production: a local Prefect server, the `opscadence` process work pool, a worker.
# Everything lives under .opscadence/ (PREFECT_HOME .opscadence/prefect, logs and pids);
# UI and API on http://127.0.0.1:4200. See deployments/README.md.
.PHONY: server deploy run-daily stop server-status screenshot

## make server: start the Prefect server, wait until healthy, create the work pool, start a worker
server: $(VENV)/.installed
	deployments/local.sh server

## make deploy: register every deployment in prefect.yaml with that server (non-interactive)
deploy: $(VENV)/.installed
	deployments/local.sh deploy

## make run-daily [AS_OF=YYYY-MM-DD]: run the daily-brief deployment through the worker and watch it
run-daily:
	deployments/local.sh run $(AS_OF)

## make stop: stop the worker and the server
stop:
	deployments/local.sh stop

server-status:
	deployments/local.sh status

## make screenshot: docs/img/prefect-ui.png of the latest completed daily-brief run (headless Chromium)
screenshot:
	deployments/screenshot.sh docs/img/prefect-ui.png
