# Parley: `make run` serves the demo, `make test` runs every check. Nothing else is needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
FAKE_PORT ?= 8900

# Without configuration Parley runs embedded in development mode (SQLite, in-memory channel
# layer, eager Celery). Set DEBUG=0 with SECRET_KEY and FIELD_ENCRYPTION_KEY for production.
export DEBUG ?= 1

.PHONY: run test lint typecheck migrations-check imports pytest install clean bench

$(BIN)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo ""
	@echo "Parley is starting on http://$(HOST):$(PORT)/  (Ctrl+C to stop)"
	@# Without real platform URLs, replies go to a local fake of Messenger and X (the demo).
	@pids=""; trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	if [ -z "$$META_GRAPH_URL$$TWITTER_API_URL" ]; then \
		$(PY) manage.py fake_platforms --port $(FAKE_PORT) > /dev/null & pids="$$pids $$!"; \
		export META_GRAPH_URL=http://127.0.0.1:$(FAKE_PORT)/v25.0 TWITTER_API_URL=http://127.0.0.1:$(FAKE_PORT); \
		echo "Replies go to the local fake platforms on port $(FAKE_PORT) (set META_GRAPH_URL / TWITTER_API_URL for real ones)"; \
	fi; \
	if [ -n "$$REDIS_URL" ]; then \
		echo "REDIS_URL is set: starting a Celery worker with beat beside the web server"; \
		$(BIN)/celery -A config worker --beat --loglevel=WARNING --concurrency=2 & pids="$$pids $$!"; \
	fi; \
	$(PY) -m uvicorn config.asgi:application --host $(HOST) --port $(PORT) --ws-per-message-deflate false

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

migrations-check: install
	$(PY) manage.py makemigrations --check --dry-run

imports: install
	$(BIN)/lint-imports

pytest: install
	$(BIN)/pytest -n $${PYTEST_WORKERS:-auto} $(PYTEST_ARGS)

test: lint typecheck migrations-check imports pytest

bench: install
	$(PY) -m bench.conversation_list

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
