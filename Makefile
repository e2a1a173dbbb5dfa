# qlearn-lite: `make lab` to learn, `make test` to check everything.
# Both create .venv on first use and install the package with the pinned
# versions in constraints.txt (torch 2.13.0, the CPU build, among them).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip
PYTEST := $(BIN)/python -m pytest

.PHONY: help install lab test lint format unit nbtest notebooks benchmarks gpu-check headers student clean

help:
	@echo "make lab         create .venv if needed, install, open JupyterLab on notebooks/"
	@echo "make test        same install, then lint, unit tests and every notebook (quick mode)"
	@echo "make notebooks   run every notebook in full mode and store its outputs in place"
	@echo "make benchmarks  run the speed benchmarks in benchmarks/ and print their ratios"
	@echo "make gpu-check   on a CUDA GPU: its tests and figures, in benchmarks/results/gpu_check.json"
	@echo "make headers     rewrite every notebook's badges and first cell from tools/course_header.py"
	@echo "make student     write the student edition (no solutions) to student/"
	@echo "make clean       remove .venv and caches"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "qlearn-lite needs Python 3.10 or newer; $(PYTHON) is " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[dev,ray]"
	@touch $(STAMP)

install: $(STAMP)

# Jupyter refuses to run as root unless told (containers, some cloud VMs).
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
lab: install
	$(BIN)/jupyter lab notebooks/ $(ROOT_FLAG)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Unit tests and every notebook, in one pytest run, in quick mode.
test: lint
	QLEARN_LITE_QUICK=1 MPLBACKEND=Agg $(PYTEST) tests notebooks

unit: install
	QLEARN_LITE_QUICK=1 MPLBACKEND=Agg $(PYTEST) tests

nbtest: install
	QLEARN_LITE_QUICK=1 MPLBACKEND=Agg $(PYTEST) notebooks

# Full mode (QLEARN_LITE_QUICK unset): what a learner sees, stored in the files.
# One notebook: make notebooks NB=notebooks/02_tabular_q_learning.ipynb
NB ?= notebooks/[0-9]*.ipynb
notebooks: install
	env -u QLEARN_LITE_QUICK $(BIN)/python tools/run_notebooks.py $(NB)

# The benchmarks compare against Stable-Baselines3: the `bench` extra.
benchmarks: install
	$(PIP) install --quiet -c constraints.txt -e ".[dev,bench]"
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# On a machine with a CUDA GPU: the CUDA tests and the vectorised figures in
# under 5 minutes (exits with a message, status 2, where there is no GPU).
gpu-check: install
	$(BIN)/python benchmarks/gpu_check.py

headers: install
	$(BIN)/python tools/course_header.py --write

# The student edition: solutions left out, exercise outputs cleared, badges
# that open student/ (see docs/teaching.md).
student: install
	$(BIN)/python tools/make_student.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
