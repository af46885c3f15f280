# Set-up and the two jobs the README opens with: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint typecheck pytest frontend frontend-deps bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Node is needed only to rebuild (and check) the frontend bundle; the wheel ships it built.
frontend-deps:
	@if [ -f frontend/package-lock.json ] && command -v npm >/dev/null; then \
		cd frontend && npm ci --no-audit --no-fund --loglevel=error; fi

frontend: frontend-deps
	cd frontend && npm run build

demo: install
	$(PY) scripts/demo.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

pytest: install frontend-deps
	$(VENV)/bin/pytest -n 2 --dist loadgroup -q

test: lint typecheck pytest

bench: install
	$(PY) benchmarks/lint_speed.py

clean:
	rm -rf $(VENV) frontend/node_modules demo_logs test-artifacts
