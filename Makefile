# tierflow — the two commands a new user runs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL := WARNING

.PHONY: run test install browser lint bench lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make run: install, initialise the SQLite database, load the demo once, run the system:
## the Prefect server, the scheduled flows and the dashboard; both URLs printed, Ctrl-C stops all.
run: $(STAMP)
	$(BIN)/tierflow init
	$(BIN)/tierflow demo --cases 300 --seed 2013
	$(BIN)/tierflow serve --dashboard

## make browser: Debian's chromium for the dashboard's browser test (Playwright cannot
## download browsers here). Where it cannot be installed, that test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || \
	  ( [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    (apt-get install -y -q chromium >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) ) || \
	  echo "note: chromium could not be installed; the browser test will skip"

## make test: install what tests need and run the whole suite. One process: the suite
## takes 5.5 to 12 minutes so on a 2-core machine, and pytest-xdist 3.8 under pytest 9.2 does not keep an
## xdist_group on one worker (each worker started its own Prefect test server).
test: $(STAMP) browser
	$(BIN)/python -m pytest -q --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## make bench: every benchmark; with TIERFLOW_DATABASE_URL=postgresql+psycopg://… the
## database ones print PostgreSQL figures beside SQLite's.
bench: $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,bench]'
	$(BIN)/python benchmarks/single_apply.py
	$(BIN)/python benchmarks/pages_per_command.py
	$(BIN)/python benchmarks/peer_spiffworkflow.py
	$(BIN)/python benchmarks/io_share.py
	$(BIN)/python benchmarks/apply_latency.py
	$(BIN)/python benchmarks/apply_throughput.py
	$(BIN)/python benchmarks/timer_sweep.py
	$(BIN)/python benchmarks/calendar_add.py
	$(BIN)/python benchmarks/report.py
	$(BIN)/python benchmarks/flow_overhead.py
	$(BIN)/python benchmarks/intake.py
	$(BIN)/python benchmarks/export.py
	$(BIN)/python benchmarks/import.py

## make lock: re-pin the full dependency set after changing pyproject.toml.
lock:
	rm -rf /tmp/tierflow-lock && $(PYTHON) -m venv /tmp/tierflow-lock
	/tmp/tierflow-lock/bin/pip install --quiet -e '.[test,bench]'
	(echo "# Full pinned set; regenerate with: make lock"; \
	 /tmp/tierflow-lock/bin/pip freeze --exclude-editable | grep -vi '^tierflow') > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
