# The README's commands. Each target installs what it needs into .venv first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo serve test lint messages system-packages demo-font

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

# The demo shop issues 領収書 PDFs, which embed a Japanese font. Installed with apt when
# root or sudo allows; otherwise the demo runs without receipts and says how to add them.
RECEIPT_FONT := fonts-ipaexfont-gothic
demo-font:
	@dpkg-query -W -f='$${Status}' $(RECEIPT_FONT) 2>/dev/null | grep -q "install ok installed" \
	|| { if [ "$$(id -u)" -eq 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo=sudo; \
	     else echo "make demo: receipts are off; to see them: sudo apt-get install $(RECEIPT_FONT)"; exit 0; fi; \
	     echo "make demo: installing $(RECEIPT_FONT) (the receipts' font)"; \
	     { $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q \
	       --no-install-recommends $(RECEIPT_FONT); } >/dev/null \
	     || echo "make demo: could not install $(RECEIPT_FONT); the demo runs without receipts"; }

demo: $(BIN)/.installed $(COMPILED) demo-font  ## the portal on its embedded local stack
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
