# Triage — everyday commands. The virtualenv lives in .venv/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install migrate seed worker beat lint format check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --noinput

seed: migrate
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py seed_demo

## make run: set everything up and serve on http://127.0.0.1:8000 (SQLite, tasks in-process)
run: seed
	@echo "Triage on http://$(HOST):$(PORT)/  —  sign in as sales, product, exec or admin (password: demo)"
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py runserver $(HOST):$(PORT)

## make test: the whole suite; with DATABASE_URL/REDIS_URL set, also the real-service tests
test: install
	TRIAGE_TESTING=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

worker: install
	$(BIN)/celery -A triage worker --loglevel=info --concurrency=2

beat: install
	$(BIN)/celery -A triage beat --loglevel=info

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: install
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
