# The README's commands. Each target installs what it needs into .venv first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo serve test lint messages system-packages

# Message catalogs: the .po files are the source, compiled to .mo on install.
CATALOGS := $(wildcard portal/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# axe-core (npm), injected into each page by the browser tests.
AXE := node_modules/axe-core/axe.min.js
$(AXE): package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

%.mo: %.po $(BIN)/.installed
	$(BIN)/pybabel compile --statistics -i $< -o $@

# After changing user-facing text: extract it and merge it into both catalogs.
messages: $(BIN)/.installed
	$(BIN)/pybabel extract -F portal/translations/babel.cfg -k N_ -k lazy_gettext \
		--no-location --sort-output --ignore-dirs="devstack __pycache__ .venv" \
		-o portal/translations/messages.pot .
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations \
		--width 100 --ignore-obsolete

demo: $(BIN)/.installed $(COMPILED)  ## the portal on its embedded local stack
	$(BIN)/portal demo

serve: $(BIN)/.installed $(COMPILED)  ## the portal against the settings in .env
	$(BIN)/portal serve

lint: $(BIN)/.installed $(COMPILED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The Debian packages the tests use (redis-server, chromium, fonts-noto-cjk, npm, nginx):
# installed with apt as root or with sudo, else one line says what to run.
system-packages:
	@tests/system-packages

test: system-packages lint $(AXE)  ## every check and every test
	$(BIN)/pytest
