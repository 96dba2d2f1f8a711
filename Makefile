# Two commands do everything:
#   make demo   set up, then check, summarize, render and compile a shipped spec
#   make test   set up, then run the test suite
SPEC ?= resnet50
NETSPEC = .venv/bin/netspec

.PHONY: setup demo test bench

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

bench: setup
	.venv/bin/python bench/bench_frontend.py
