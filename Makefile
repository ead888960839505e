# labquake: the two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test docs venv bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/labquake campaign simulations/quick.toml --out runs/quick

test: $(STAMP)
	$(PY) -m pytest -q

# the documentation site: docs/_build/html/index.html. The notebooks and the page
# "Reproducing Ye, Lui & Young (2024)" are executed against LABQUAKE_DOCS_CAMPAIGN (default:
# runs/paper27 if complete, else runs/quick, else a quick campaign simulated into
# docs/_build/campaign); outputs are cached in docs/_build/.jupyter_cache.
docs: $(STAMP)
	$(PY) -m sphinx -b html -W --keep-going -q docs docs/_build/html
	@echo "docs: $(CURDIR)/docs/_build/html/index.html"

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	for b in dem_throughput simulation_presets analysis_pipeline grains_render pfc_import; do \
	  echo "== benchmarks/$$b.py"; $(PY) benchmarks/$$b.py || exit 1; done
	@echo "the paper27 campaign benchmark (about 10 min): $(PY) benchmarks/campaign_paper27.py --out runs/paper27-bench"

clean:
	rm -rf runs benchmarks/_work docs/_build docs/api/generated docs/notebooks
