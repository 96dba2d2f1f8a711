# Two commands do everything:
#   make demo   set up, then check, summarize, render and compile a shipped spec
#   make test   set up, then run the test suite
# For everyday work, `make test-fast` runs the front-end tests only (no torch modules built).
SPEC ?= resnet50
NETSPEC = .venv/bin/netspec

.PHONY: setup demo test test-fast bench

setup:
	@bash scripts/setup.sh

demo: setup
	@mkdir -p out
	$(NETSPEC) check $(SPEC)
	$(NETSPEC) summary $(SPEC) --depth 1
	$(NETSPEC) render $(SPEC) -o out/$(SPEC).svg
	$(NETSPEC) compile $(SPEC) -o out/$(SPEC).py
	@echo "demo: wrote out/$(SPEC).svg and out/$(SPEC).py"

test: setup
	.venv/bin/python -m pytest

test-fast: setup
	.venv/bin/python -m pytest -m "not torch"

bench: setup
	.venv/bin/python bench/bench_frontend.py
