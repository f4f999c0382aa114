# cktgen-eda: `make demo` runs the main job (generate + size + ngspice-verify with the shipped
# model), `make test` runs the test suite.
# Both call `make setup` first; it is idempotent and safe to re-run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-done
TORCH  := torch==2.13.0

.PHONY: setup ngspice demo test bench clean

setup: ngspice $(STAMP)

# libngspice (shared library used through PySpice) and the ngspice CLI, from Debian.
ngspice:
	@if [ -e /usr/lib/x86_64-linux-gnu/libngspice.so ] || [ -e /usr/lib/aarch64-linux-gnu/libngspice.so ] \
	    || ldconfig -p 2>/dev/null | grep -q 'libngspice.so '; then \
	  echo "ngspice: libngspice present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libngspice0-dev ngspice; \
	else \
	  echo "ngspice: libngspice missing; install Debian 'libngspice0-dev ngspice' (as root) or set NGSPICE_LIBRARY_PATH" >&2; \
	fi

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/cktgen-eda generate --spec "gain>=80dB,ugf>=1GHz,pm>=45deg" -n 8 --rerank 4 --refine --verify

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/verify_throughput.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
