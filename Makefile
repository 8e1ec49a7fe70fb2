# BrandFlow — `make run` to try it, `make test` to check it, `make bench` to measure it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc

.PHONY: install run serve test bench load lint format sysdeps clean i18n

install: $(VENV)/.installed static/vendor/.installed translations/en/LC_MESSAGES/messages.mo

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

# htmx and Pico CSS come from the npm registry (versions pinned by package-lock.json).
static/vendor/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
	cp node_modules/@picocss/pico/css/pico.red.min.css static/vendor/pico.min.css
	touch $@

# The CJK font that PDFs embed, and poppler for the PDF tests. Installed when we are root with
# apt-get; otherwise this prints the command to run.
sysdeps:
	@if [ -f $(FONT) ] && command -v pdftoppm >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei poppler-utils >/dev/null; \
	else echo "请先安装中文字体与 poppler：sudo apt-get install fonts-wqy-microhei poppler-utils"; fi

run: install sysdeps
	$(BIN)/flask --app app init-db
	$(BIN)/flask --app app seed-demo --if-empty --through submitted
	$(BIN)/flask --app app run --host 127.0.0.1 --port 5000

# The suite runs on every core (pytest-xdist; each worker has its own databases and folders),
# then the tests marked serial on their own: one restarts the PostgreSQL server. Each test file
# runs on one worker (--dist loadfile): some build on each other, and a module's site is built once.
TEST_WORKERS ?= auto
test: install sysdeps
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not serial"
	$(BIN)/python -m pytest -q -m serial

bench: install
	$(BIN)/python bench/bench.py

# 50 simulated users against gunicorn (4 workers) for LOAD_SECONDS (60), then the log is verified;
# writes bench/load.json. DATABASE_URL=postgresql://… runs it on a scratch PostgreSQL database.
load: install
	$(BIN)/python bench/load.py

# Production-style: gunicorn on 127.0.0.1:5000, 2 × CPU + 1 workers (deploy/ has systemd and nginx).
serve: install
	$(BIN)/flask --app app init-db
	$(BIN)/gunicorn --preload --workers $$(( $$(nproc) * 2 + 1 )) --bind 127.0.0.1:5000 \
		--access-logfile - "app:create_app()"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) node_modules static/vendor .pytest_cache

# English catalogue: the .po is committed, the .mo is built from it whenever the .po is newer.
translations/en/LC_MESSAGES/messages.mo: translations/en/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel compile -f -d translations

# Re-extract every UI string (templates, Python, N_() domain messages) and merge into the .po.
i18n: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k lazy_gettext -k later -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations
