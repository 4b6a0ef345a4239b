# Set-up is two commands on a fresh machine (Python 3.10+ with venv):
#   make demo   create .venv if needed, install the zoo + demo + ONNX Runtime, start the app
#               on :7860
#   make test   the same plus training and test tools and Debian's chromium, then lint,
#               type-check and test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint pytest chromium clean

demo: $(VENV)/.demo
	$(BIN)/python app.py

test: $(VENV)/.dev chromium lint pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

pytest: $(VENV)/.dev
	$(BIN)/python -m pytest --runslow

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.demo: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e ".[demo,offline,onnx]"
	touch $@

$(VENV)/.dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e ".[demo,offline,onnx,train,dev]"
	touch $@ $(VENV)/.demo

chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

clean:
	rm -rf $(VENV)
