# Modelyard: `make run` sets up and starts the platform, `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DATA_DIR ?= $(or $(MODELYARD_DATA_DIR),var)
PORT ?= 8000
# Set to PyTorch's CPU wheel index on machines where plain `pip install torch` would pull CUDA.
TORCH_INDEX_URL ?=
PYTEST_ARGS ?=

.PHONY: run setup install install-dev test lint format bench clean

$(VENV)/.installed: requirements.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@# torch first and exactly: any other version pulls gigabytes of CUDA wheels.
	$(PIP) install torch==2.13.0 $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(PIP) install -r requirements.txt -c constraints.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -r requirements-dev.txt -c constraints.txt
	@touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

$(DATA_DIR)/secret_key:
	@mkdir -p $(DATA_DIR)
	@umask 077 && $(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	@echo "Generated a SECRET_KEY in $@"

# Collected (hashed, compressed) static files, rebuilt only when an asset or a package changes.
STATIC_MANIFEST := $(DATA_DIR)/static/staticfiles.json
$(STATIC_MANIFEST): $(VENV)/.installed $(shell find static templates -type f 2>/dev/null)
	@echo "Collecting static files ..."
	$(PY) manage.py collectstatic --noinput --verbosity 0

setup: install $(DATA_DIR)/secret_key
	$(PY) manage.py setup_platform
	@$(MAKE) --no-print-directory $(STATIC_MANIFEST)

# Web (gunicorn), the two Celery workers (long and short queues) and Celery Beat; Ctrl-C stops all.
run: setup
	@echo "Modelyard on http://127.0.0.1:$(PORT)/ (web, worker, monitor, beat; Ctrl-C stops all)"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start --procfile Procfile --port $(PORT)

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# Style, then the architecture contracts in .importlinter (layers, app boundaries, a
# Django-free engine, no torch/optuna in web processes).
lint: install-dev
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/bench_dataset_ingest.py
	$(PY) bench/training.py
	@# Needs PostgreSQL on 127.0.0.1:5432 (and wrk for the best client; see bench/serving/README.md).
	$(PY) bench/serving/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
