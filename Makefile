# Two commands for a newcomer: `make run` and `make test`. Only Python 3.11 is needed.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-fast lint install install-dev vendor clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (found " + sys.version.split()[0] + "); set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# `make run` reads WEB_HOST (127.0.0.1), WEB_PORT (8000), SANDBOX_SALESFORCE_PORT (8443), SANDBOX_EXCHANGE_PORT (8444),
# SANDBOX_GRAPH_PORT (8445), SANDBOX_SMTP_PORT (8025: the SMTP sink that alerts' e-mails go to) and SYNCADMIN_VAR_DIR
# (var): two can run side by side with other ports and folders.
run: install
	$(BIN)/python manage.py migrate --no-input
	@$(BIN)/python manage.py ensure_admin
	@echo "Sandbox: Salesforce on port $${SANDBOX_SALESFORCE_PORT:-8443}, EWS on $${SANDBOX_EXCHANGE_PORT:-8444}, Graph on $${SANDBOX_GRAPH_PORT:-8445}, SMTP sink on $${SANDBOX_SMTP_PORT:-8025}"
	@echo "Console: http://$${WEB_HOST:-127.0.0.1}:$${WEB_PORT:-8000}/   (Ctrl-C stops everything)"
	EMAIL_HOST=$${EMAIL_HOST:-127.0.0.1} EMAIL_PORT=$${EMAIL_PORT:-$${SANDBOX_SMTP_PORT:-8025}} \
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho --procfile Procfile start

lint: install-dev
	$(BIN)/ruff check .

# Tests keep their files (SQLite test database, task queue) in var/test, apart from a running `make run`.
# pytest's exit status 5 means it collected nothing: an error here, not a pass.
define pytest
	SYNCADMIN_VAR_DIR=$${SYNCADMIN_VAR_DIR:-$(CURDIR)/var/test} $(BIN)/python -m pytest $(1); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is an error here, not a pass" >&2; exit 1; fi; \
	exit $$status
endef

test: lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(call pytest,--durations=20 $(PYTEST_ARGS))

# The inner loop: everything `make test` checks except the end-to-end and browser tests (real processes, Chromium).
test-fast: lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(call pytest,-m "not e2e and not browser" $(PYTEST_ARGS))

# Refresh the vendored Bootstrap and Chart.js from the npm registry (needs npm; not needed to run or test).
BOOTSTRAP_VERSION ?= 5.3.9
CHARTJS_VERSION ?= 4.6.2
vendor:
	cd $$(mktemp -d) && npm pack --silent bootstrap@$(BOOTSTRAP_VERSION) && tar xzf bootstrap-*.tgz && \
	cp package/dist/css/bootstrap.min.css package/dist/js/bootstrap.bundle.min.js package/LICENSE \
	   $(CURDIR)/static/vendor/bootstrap/
	sed -i 's|/\*# sourceMappingURL=.*\*/||; s|//# sourceMappingURL=.*||' static/vendor/bootstrap/*.min.*
	cd $$(mktemp -d) && npm pack --silent chart.js@$(CHARTJS_VERSION) && tar xzf chart.js-*.tgz && \
	cp package/dist/chart.umd.min.js package/LICENSE.md $(CURDIR)/static/vendor/chartjs/
	sed -i 's|//# sourceMappingURL=.*||' static/vendor/chartjs/chart.umd.min.js

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
