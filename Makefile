# v2xbox: every target sets itself up on a fresh machine (venv, pinned deps, npm, mpy-cross, stubs).
SHELL := /bin/bash
PY     ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
BUILD  := build
export PYTHONHASHSEED := 0

.PHONY: all setup demo test bench gate lint gen clean distclean
all: test

# ---------------------------------------------------------------- set-up
# System tools first (Node for the MicroPython WebAssembly port and pyright; Java for the EXI reference peer).
$(BUILD)/.sys.stamp:
	@mkdir -p $(BUILD)
	@missing=""; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm  >/dev/null || missing="$$missing npm"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	$(PY) -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; \
	fi
	@touch $@

$(VENV)/.stamp: pyproject.toml constraints.txt $(BUILD)/.sys.stamp
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

node_modules/.stamp: package.json package-lock.json $(BUILD)/.sys.stamp
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# MicroPython stubs for the static check live apart from the venv (they replace the stdlib stubs).
$(BUILD)/typings/.stamp: constraints.txt $(VENV)/.stamp
	rm -rf $(BUILD)/typings
	$(VPY) -m pip install -q -c constraints.txt --no-user --target $(BUILD)/typings micropython-stm32-stubs
	@touch $@

setup: $(VENV)/.stamp node_modules/.stamp $(BUILD)/typings/.stamp gen

# ---------------------------------------------------------------- generated code
gen: $(VENV)/.stamp
	@if [ -f tools/gen_can.py ]; then $(VPY) tools/gen_can.py; fi

# ---------------------------------------------------------------- the two main jobs
demo: setup
	$(VPY) -m hil.demo

test: setup
	$(VPY) -m pytest tests

bench: setup
	$(VPY) bench/run.py --out $(BUILD)/bench.json

# MicroPython gate alone (also part of `make test`)
gate: setup
	$(VPY) -m pytest tests/gate

clean:
	rm -rf $(BUILD)/mpy $(BUILD)/bench.json .pytest_cache .hypothesis
distclean:
	rm -rf $(BUILD) $(VENV) node_modules
