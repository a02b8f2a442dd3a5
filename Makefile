# Every target sets itself up: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test test-load bench lint docs clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[all]"
	touch $(STAMP)

demo: venv
	$(BIN)/gilwise demo

test: venv
	# tests/test_status_page.py opens the status page in a headless Chromium (Debian's
	# chromium) where it can be installed; without it, that test is skipped and says so
	command -v chromium >/dev/null || { apt-get update -qq && \
	  apt-get install -y -qq chromium >/dev/null; } || true
	$(BIN)/python -m pytest -q

# Auto mode's decisions and the tests that time things, with one, then two other processes
# keeping cores busy (tools/under_load.py starts them, and kills them whatever happens)
LOAD_TESTS ?= tests/test_auto.py tests/test_switch.py
# BUSY: how many other processes keep cores busy, one run each
BUSY ?= 1 2
test-load: venv
	for n in $(BUSY); do $(BIN)/python tools/under_load.py $$n $(BIN)/python -m pytest -q \
	  $(LOAD_TESTS) || exit 1; done

bench: venv
	# bench_scrape serves its pages with nginx (Debian's nginx-light) where it can be
	# installed; without it, it falls back to a Python server and says so
	command -v nginx >/dev/null || test -x /usr/sbin/nginx || { apt-get update -qq && \
	  apt-get install -y -qq nginx-light >/dev/null; } || true
	$(BIN)/python benchmarks/run_all.py

# ruff; the layers declared in pyproject.toml; the type completeness of the public modules,
# which must be 100% (basedpyright exits 1 below it). PYTHONPATH=src: this checkout's gilwise;
# the venv's bin on PATH: its python is the one basedpyright asks for the import paths
lint: venv
	$(BIN)/ruff check src tests benchmarks
	PYTHONPATH=src $(BIN)/lint-imports
	PATH="$(abspath $(BIN)):$$PATH" PYTHONPATH=src $(BIN)/basedpyright --verifytypes gilwise --ignoreexternal

# the docs site (docs/, mkdocs.yml) into site/; --strict: a warning (a broken link, a missing
# reference) fails the build. tests/test_docs.py runs its examples and opens it in Chromium
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) build dist .pytest_cache site

# ---------------------------------------------------------------- newer interpreters
# CPython 3.14 (mode="interpreters") and free-threaded 3.13t, installed by tools/ (idempotent:
# quick when already there), each with its own venv. The tests there must not skip: the
# GILWISE_REQUIRE_* variables turn their skips into failures.
PY314_PREFIX  ?= /opt/python3.14
PY313T_PREFIX ?= /opt/python3.13t
VENV314  := .venv-3.14
VENV313T := .venv-3.13t
# The core tests run there too; the lab's tests need the lab extra (matplotlib) and time.
# The extras whose tests run there: every one with wheels for that interpreter (checked with
# pip install --dry-run --only-binary=:all:). On 3.13t pycurl and selectolax (scrape) have no
# wheel and distributed's dependencies cannot be resolved (dask): those tests skip there, saying so.
INTERP_TESTS ?= tests --ignore=tests/lab

.PHONY: interpreters test-interpreters clean-interpreters

interpreters:
	bash tools/install-python3.14.sh $(PY314_PREFIX)
	bash tools/install-python3.13t.sh $(PY313T_PREFIX)

$(VENV314)/.installed: pyproject.toml | interpreters
	test -x $(VENV314)/bin/python || $(PY314_PREFIX)/usr/bin/python3.14 -m venv $(VENV314)
	$(VENV314)/bin/python -m pip install -q --prefer-binary -e ".[test,notebook,scrape,encode,dask,joblib,docs]"
	touch $@

# --prefer-binary: the newest release of a package may have no wheel for 3.13t (PyAV) or
# 3.14 yet, where an older one has: never build one from source here
$(VENV313T)/.installed: pyproject.toml | interpreters
	test -x $(VENV313T)/bin/python || $(PY313T_PREFIX)/bin/python3.13t -m venv $(VENV313T)
	$(VENV313T)/bin/python -m pip install -q --prefer-binary -e ".[test,encode,joblib]"
	touch $@

test-interpreters: $(VENV314)/.installed $(VENV313T)/.installed
	GILWISE_REQUIRE_INTERPRETERS=1 $(VENV314)/bin/python -m pytest -q $(INTERP_TESTS)
	GILWISE_REQUIRE_FREE_THREADED=1 $(VENV313T)/bin/python -m pytest -q $(INTERP_TESTS)

clean-interpreters:  # the venvs only; the interpreters under /opt stay
	rm -rf $(VENV314) $(VENV313T)
