# Set-up is two commands on a fresh machine (Python 3.10+ with venv):
#   make demo   create .venv if needed, install the zoo + demo + ONNX Runtime, start the app
#               on :7860
#   make test   the same plus training and test tools and Debian's chromium, then lint,
#               type-check, test, and check the wheel, sdist and Space (scripts/check_dist.py)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint pytest distcheck chromium clean

demo: $(VENV)/.demo
	$(BIN)/python app.py

# the installs overlap (both mostly wait on the network), then lint, pytest and the dist check
# run side by side (the dist check mostly waits on pip)
test:
	$(MAKE) --no-print-directory -j2 $(VENV)/.dev chromium
	$(MAKE) --no-print-directory -j3 lint pytest distcheck

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

pytest: $(VENV)/.dev
	$(BIN)/python -m pytest --runslow -n 2 --dist loadfile --no-loadscope-reorder

# wheel + sdist (twine check, licence files, bundled weights), the Space's environment from
# space/requirements.txt in a fresh venv with app.py started in it, the README's library
# blocks against the installed wheel
distcheck: $(VENV)/.dev
	$(BIN)/python scripts/check_dist.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.demo: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e ".[demo,offline,onnx,openvino]"
	touch $@

$(VENV)/.dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e ".[demo,offline,onnx,openvino,train,dev]"
	touch $@ $(VENV)/.demo

chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

clean:
	rm -rf $(VENV)
