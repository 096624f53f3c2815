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
	command -v ip   >/dev/null || missing="$$missing iproute2"; \
	[ -f /usr/share/java/javax.mail.jar ] || missing="$$missing libmail-java"; \
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

setup: $(VENV)/.stamp node_modules/.stamp $(BUILD)/typings/.stamp $(BUILD)/josev-venv/.stamp $(BUILD)/.sys-ccs.stamp gen

# ---- CCS link layer (issue 10): the reference PEV `pev` (plc-utils-extra) for the SLAC
# interop test, iproute2 (ip netns, veth, tc netem) for the namespace rigs, ethtool to turn
# off veth checksum offload (a raw-socket peer must see finished checksums, as on a wire).
$(BUILD)/.sys-ccs.stamp:
	@mkdir -p $(BUILD)
	@missing=""; \
	command -v pev >/dev/null || missing="$$missing plc-utils-extra"; \
	{ command -v ip >/dev/null && command -v tc >/dev/null; } || missing="$$missing iproute2"; \
	command -v ethtool >/dev/null || missing="$$missing ethtool"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@touch $@

# ---- EXI (issue #4): Josev (PyPI iso15118) in its own venv, for the V2G XSDs and the
# EXIficient peer codec (EXICodec.jar) the differential tests compare against.
JOSEV_VENV := $(BUILD)/josev-venv
$(JOSEV_VENV)/.stamp: tools/exigen/josev-constraints.txt $(BUILD)/.sys.stamp
	rm -rf $(JOSEV_VENV)
	$(PY) -m venv $(JOSEV_VENV)
	$(JOSEV_VENV)/bin/python -m pip install -q -c tools/exigen/josev-constraints.txt iso15118 aiofile
	@touch $@

# ---------------------------------------------------------------- generated code
gen: $(VENV)/.stamp $(BUILD)/josev-venv/.stamp
	@if [ -f tools/gen_can.py ]; then $(VPY) tools/gen_can.py; fi
	$(VPY) -m tools.exigen   # EXI grammar tables -> firmware/v2g/exi/gen/ (issue #4)

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
