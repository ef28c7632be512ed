# n2kzones: `make demo` runs the whole pipeline on the sample region, `make test` the tests.
# Targets are real files that depend on their inputs, the config and the code of their
# stage, so `make` rebuilds only what changed. Outputs are written atomically by the code;
# .DELETE_ON_ERROR removes any target a failed recipe may have touched.

SHELL := /bin/bash
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= config/sample.toml
RAW    := data/raw/sample
OUT    := data/processed
SEED   ?= 20260626
N2K    := $(BIN)/n2kzones

PKG     := src/n2kzones
COMMON  := $(STAMP) $(CONFIG) $(wildcard $(PKG)/*.toml $(PKG)/data/*) $(PKG)/config.py $(PKG)/params.py \
           $(PKG)/validate.py $(PKG)/pipeline.py $(PKG)/errors.py $(wildcard $(PKG)/io/*.py)
SAMPLE_MANIFEST := $(RAW)/manifest.json

.PHONY: help venv demo test sample zones overlay deposition rko select scenario maps report bench bench-scale clean clean-outputs lint docs data-real

help:  ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP)  ## Create .venv and install n2kzones with its test tools

demo: overlay deposition rko select scenario maps report  ## Generate the sample region and run every pipeline stage on it
	@echo "demo outputs in $(OUT)/: n2kzones.gpkg, area_summary.csv, farm_summary.csv, deposition.gpkg, area_deposition.csv, *.tif, rko_*.csv, zone_proposal.csv, scenarios.csv, zone_effectiveness.csv, maps/index.html, report/index.html"

test: $(STAMP)  ## Run the test suite (2 workers); fails when no test ran
	@command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || \
		{ apt-get update -qq >/dev/null 2>&1; apt-get install -y -q chromium >/dev/null 2>&1; } \
		|| echo "chromium could not be installed: the browser test of the maps will be skipped (fails under CI)" >&2
	@$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure" >&2; exit 1; fi; exit $$rc

$(SAMPLE_MANIFEST): $(STAMP) $(PKG)/sample.py $(PKG)/data/parameters.toml
	$(N2K) sample --out $(RAW) --seed $(SEED)

sample: $(SAMPLE_MANIFEST)  ## Generate the sample region into data/raw/sample

$(OUT)/stages/zones.parquet: $(SAMPLE_MANIFEST) $(COMMON) $(PKG)/zones.py $(wildcard config/*.csv)
	$(N2K) zones --config $(CONFIG)

zones: $(OUT)/stages/zones.parquet  ## Zones per area and the national zone layer

$(OUT)/n2kzones.gpkg: $(OUT)/stages/zones.parquet $(COMMON) $(PKG)/overlay.py $(PKG)/summary.py
	$(N2K) overlay --config $(CONFIG)

overlay: $(OUT)/n2kzones.gpkg  ## Parcels and farms x zones: GeoPackage, area_summary.csv, farm_summary.csv

$(OUT)/area_deposition.csv: $(OUT)/n2kzones.gpkg $(COMMON) $(PKG)/deposition_stage.py $(PKG)/overload.py $(wildcard $(PKG)/deposition/*.py $(PKG)/deposition/data/*)
	$(N2K) deposition --config $(CONFIG)

deposition: $(OUT)/area_deposition.csv  ## NH3 deposition on hexagon receptors and a 100 m grid; KDW overload per area

DEP_OUT := $(OUT)/area_deposition.csv

$(OUT)/rko_sweep.csv: $(DEP_OUT) $(COMMON) $(wildcard $(PKG)/rko*.py)
	$(N2K) rko --config $(CONFIG)

rko: $(OUT)/rko_sweep.csv  ## RKO threshold sweep: permit-free sources and their summed deposition

$(OUT)/zone_proposal.csv: $(DEP_OUT) $(COMMON) $(PKG)/selection.py
	$(N2K) select --config $(CONFIG)

select: $(OUT)/zone_proposal.csv  ## Propose zone widths from the deposition coming from the zones

$(OUT)/scenarios.csv: $(DEP_OUT) $(COMMON) $(PKG)/scenarios.py $(PKG)/effectiveness.py $(PKG)/selection.py
	$(N2K) scenario --config $(CONFIG)

scenario: $(OUT)/scenarios.csv  ## Scenarios from the config and zone effectiveness (inside vs outside)

$(OUT)/maps/index.html: $(DEP_OUT) $(OUT)/rko_sweep.csv $(COMMON) $(PKG)/maps.py
	$(N2K) maps --config $(CONFIG)

maps: $(OUT)/maps/index.html  ## Interactive maps: national overview and one map per area (self-contained HTML)

$(OUT)/report/index.html: $(OUT)/maps/index.html $(DEP_OUT) $(OUT)/rko_sweep.csv $(OUT)/zone_proposal.csv $(OUT)/scenarios.csv $(COMMON) $(PKG)/report.py
	$(N2K) report --config $(CONFIG)

report: $(OUT)/report/index.html  ## HTML report: figures, links to the maps and tables

bench: $(STAMP)  ## Benchmarks on the national-sized sample (slow; prints ratios)
	$(BIN)/python benchmarks/bench_overlay.py
	$(BIN)/python benchmarks/bench_deposition.py
	$(BIN)/python benchmarks/validate_kernel.py
	$(BIN)/python benchmarks/bench_rko.py

bench-scale: $(STAMP)  ## Dask engine: 1 and 2 workers, national sample and 10x synthetic (slow)
	$(BIN)/python benchmarks/bench_scale.py

docs: $(STAMP)  ## Generate docs/cli.md and docs/config.md from the code, then build the site into build/site
	$(BIN)/python tools/gen_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir build/site

data-real: $(STAMP)  ## Download, verify and convert the official data (PDOK Natura 2000, BRP) into data/raw/real
	$(BIN)/python -m n2kzones.realdata --out data/raw/real $(REALDATA_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools

clean-outputs:  ## Remove generated outputs (data/processed)
	rm -rf $(OUT)/*

clean: clean-outputs  ## Remove outputs, generated sample data and the virtual environment
	rm -rf $(RAW) $(VENV)
