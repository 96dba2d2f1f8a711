# Two commands do everything:
#   make demo   set up, then check, summarize, render and compile a shipped spec
#   make test   set up, then run the test suite
# For everyday work, `make test-fast` runs the front-end tests only (no torch modules built);
# `make lint` runs ruff and mypy --strict, as CI does before `make test`.
SPEC ?= resnet50
NETSPEC = .venv/bin/netspec

.PHONY: setup demo test test-fast lint bench

setup:
	@bash scripts/setup.sh

demo: setup
	@mkdir -p out
	$(NETSPEC) check $(SPEC)
	$(NETSPEC) summary $(SPEC) --depth 1
	$(NETSPEC) render $(SPEC) -o out/$(SPEC).svg
	$(NETSPEC) render $(SPEC) -o out/$(SPEC).html
	$(NETSPEC) compile $(SPEC) -o out/$(SPEC).py
	@echo "demo: wrote out/$(SPEC).svg, out/$(SPEC).html (open it in a browser) and out/$(SPEC).py"

test: setup
	.venv/bin/python -m pytest

test-fast: setup
	.venv/bin/python -m pytest -m "not torch"

# compiler/ is also netspec/compiler (a symlink): ruff does not follow it, and mypy -p
# netspec sees compiler/ only through it, so each file is checked once.
lint: setup
	.venv/bin/ruff check netspec compiler
	.venv/bin/ruff format --check netspec compiler
	.venv/bin/mypy -p netspec

bench: setup
	.venv/bin/python bench/bench_frontend.py
