# PneumoLab: every target sets itself up (a .venv here, created when missing).
#   make course   open the course in JupyterLab (the main job)
#   make panel    serve the upload-and-predict panel for a class (Voila)
#   make reference  rebuild the shipped reference ensemble (trains its three members; about 40 min)
#   make exercises  regenerate the student notebooks from notebooks/exercises/solutions
#   make test     run every test: unit tests and all notebooks (in quick mode if PNEUMOLAB_QUICK=1)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: install course panel exercises reference test lint benchmarks clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

course: install
	$(BIN)/jupyter lab notebooks/

panel: install
	$(BIN)/pneumolab panel

exercises: install
	$(BIN)/python tools/make_exercises.py

reference: install
	$(BIN)/pneumolab train --arch transfer --out runs/reference-transfer
	$(BIN)/pneumolab train --arch scratch --out runs/scratch
	$(BIN)/pneumolab train --arch probe --out runs/probe
	$(BIN)/pneumolab ensemble runs/reference-transfer runs/scratch runs/probe --out pneumolab/reference
	cd benchmarks && ../$(BIN)/python generalization.py

test: install
	$(BIN)/ruff check pneumolab tests benchmarks tools
	MPLBACKEND=Agg $(BIN)/python -m pytest --nbval-lax --nbval-current-env tests notebooks

lint: install
	$(BIN)/ruff check pneumolab tests benchmarks tools

benchmarks: install
	cd benchmarks && ../$(BIN)/python metrics.py && ../$(BIN)/python input_pipeline.py && ../$(BIN)/python train.py && ../$(BIN)/python panel_latency.py

clean:
	rm -rf $(VENV) .pytest_cache
