# Parley: `make run` serves the demo, `make test` runs every check. Nothing else is needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000

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
	@if [ -n "$$REDIS_URL" ]; then \
		echo "REDIS_URL is set: starting a Celery worker with beat beside the web server"; \
		$(BIN)/celery -A config worker --beat --loglevel=INFO --concurrency=2 & \
		worker=$$!; trap "kill $$worker 2>/dev/null" EXIT INT TERM; \
		$(PY) -m uvicorn config.asgi:application --host $(HOST) --port $(PORT); \
	else \
		exec $(PY) -m uvicorn config.asgi:application --host $(HOST) --port $(PORT); \
	fi

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
