# Quickstart: `make demo` (train + predict on the shipped data), `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two stamps: the runtime (what `demo` needs) and the dev extras on top of it (tests, linters, Ray,
# MLflow: what `test`, `lint` and `bench` need). The dev install touches both.
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime
PIP_INSTALL := $(BIN)/python -m pip install --disable-pip-version-check --progress-bar off
PIP_FILTER := grep --line-buffered -E '^(Collecting|Successfully installed|ERROR)' | cut -c1-100 || true
CHECK_IMPORTS := $(BIN)/python -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in \
		('forecaster', 'tensorflow', 'keras', 'statsforecast', 'onnxruntime')))" \
		&& echo "installed: $$($(BIN)/forecast --version)"

.PHONY: install install-runtime demo test docker-test lint clean bench constraints peers

install: $(STAMP)

install-runtime: $(RUNTIME_STAMP)

$(STAMP): setup.cfg pyproject.toml
	@echo "installing forecaster, its dependencies and the dev extras into $(VENV) (first run: about 2-3 minutes)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[dev]' | $(PIP_FILTER)
	$(CHECK_IMPORTS)
	touch $(RUNTIME_STAMP) $(STAMP)

$(RUNTIME_STAMP): setup.cfg pyproject.toml
	@echo "installing forecaster and its runtime dependencies into $(VENV) (first run: about 1-2 minutes)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e . | $(PIP_FILTER)
	$(CHECK_IMPORTS)
	touch $(RUNTIME_STAMP)

# The main job: LSTM vs GRU vs MLP vs the baselines on the shipped 15-series panel (US employment by
# sector, monthly), then a forecast of every series from the row the verdict recommends. The report
# lands in models/us-employment/runs/<id>/report.html. About 15 s after the install on 2 cores.
# Runtime dependencies only: the dev extras (Ray, MLflow, pytest, mypy) are for `make test`.
demo: install-runtime
	$(BIN)/forecast compare --config configs/us_employment_panel.yaml
	$(BIN)/forecast predict --model models/us-employment --output models/us-employment/forecast.csv
	@echo "forecast written to models/us-employment/forecast.csv"

# The fast set (unit tests and docstring examples), then the slow set (subprocesses, signals,
# the container's entrypoint); exit code 5 ("no tests collected") counts as a pass for the latter.
# The default set in two worker processes (3 min instead of 5 on 2 cores: most of a test's time is
# single-threaded Python and TensorFlow start-up), then the slow subprocess/fault/docker set alone.
PYTEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)
	$(BIN)/python -m pytest -m slow; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ] || exit $$rc

# The image against a real Docker engine: build, schedule, health, stop, kill, lock, predict, compose
# (one PASS/FAIL line each; about 4 minutes once the image layers are cached). Needs `docker info`
# to work: on this project's CI machines `bash ../shared/docker/engine.sh` starts an engine.
docker-test:
	bash tools/docker_test.sh

# Performance targets (issue 5): one table of target, measured, reference, ratio, pass/fail.
# Takes ~10 minutes on 2 CPU cores; `make bench BENCH_FLAGS=--quick` for a shorter run.
bench: install
	$(BIN)/python bench/run_all.py $(BENCH_FLAGS)

# NeuralForecast and statsforecast beside our defaults on the same series and windows (issue 31), in
# their own venv (torch is large; never installed by `make test`). torch is the CPU wheel, pinned.
PEERS_VENV ?= .venv-peers
PEERS_TORCH ?= torch==2.13.0
peers:
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --disable-pip-version-check --progress-bar off '$(PEERS_TORCH)' | $(PIP_FILTER)
	echo '$(PEERS_TORCH)' > $(PEERS_VENV)/torch-pin.txt
	$(PEERS_VENV)/bin/python -m pip install --disable-pip-version-check --progress-bar off -c $(PEERS_VENV)/torch-pin.txt \
		-e '.[peers]' | $(PIP_FILTER)
	$(PEERS_VENV)/bin/python bench/peers.py $(PEERS_FLAGS)

# Exact runtime pins for images, from the tested .venv (rerun after changing dependencies).
constraints: install
	$(BIN)/python tools/pin_runtime.py > constraints.txt

lint: install
	$(BIN)/ruff check forecaster tests bench
	$(BIN)/mypy forecaster

clean:
	rm -rf $(VENV) $(PEERS_VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
