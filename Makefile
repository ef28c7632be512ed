# n2kzones: `make demo` runs the whole pipeline on the sample region, `make test` the tests.
#
# Stage targets follow the config: `n2kzones deps -c CONFIG` writes .n2k-deps/<config>.mk,
# included below, in which each stage's target is its manifest in the config's output folder
# (written last by the stage's commit) and depends on the manifests of the stages it reads,
# the input files it reads, the config and the code of the modules it imports. So `make`
# reruns exactly the stages whose inputs, config or code changed, and another config works
# with `make overlay CONFIG=config/mine.toml`. Outputs are committed atomically by the code
# (a whole stage or nothing), so no .DELETE_ON_ERROR: a failed stage leaves its target as it was.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= config/sample.toml
RAW    := data/raw/sample
SEED   ?= 20260626
N2K    := $(BIN)/n2kzones
STAGES := zones overlay deposition rko select scenario policy maps report

PKG     := src/n2kzones
SAMPLE_MANIFEST := $(RAW)/manifest.json
DEPS    := .n2k-deps/$(subst /,_,$(CONFIG)).mk

.PHONY: help venv demo real test sample $(STAGES) bench bench-scale bench-pipeline bench-growth clean clean-outputs lint docs data-real data-landuse habitat-standin

help:  ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP)  ## Create .venv and install n2kzones with its test tools

test: $(STAMP)  ## Run the test suite (2 workers; includes the import-layer contract); fails when no test ran
	@command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || \
		{ apt-get update -qq >/dev/null 2>&1; apt-get install -y -q chromium >/dev/null 2>&1; } \
		|| echo "chromium could not be installed: the browser test of the maps will be skipped (fails under CI)" >&2
	@$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure" >&2; exit 1; fi; exit $$rc

$(SAMPLE_MANIFEST): $(STAMP) $(PKG)/datasets/sample.py $(PKG)/datasets/shapes.py $(PKG)/datasets/farms.py $(PKG)/data/parameters.toml
	$(N2K) sample --out $(RAW) --seed $(SEED)

sample: $(SAMPLE_MANIFEST)  ## Generate the sample region into data/raw/sample

# -- stages: targets from `n2kzones deps` (not needed for help, venv, test, lint, docs, clean) --
NO_DEPS_GOALS := help venv test lint docs clean clean-outputs bench bench-scale bench-pipeline bench-growth data-real data-landuse habitat-standin sample real
ifneq ($(filter-out $(NO_DEPS_GOALS),$(or $(MAKECMDGOALS),help)),)
$(DEPS): $(CONFIG) $(STAMP) $(wildcard $(PKG)/stages/*.py)
	@mkdir -p $(dir $@)
	@$(N2K) -q deps -c $(CONFIG) -o $@
-include $(DEPS)
else ifneq ($(wildcard $(DEPS)),)
include $(DEPS)
endif

# the sample's input files are made by `n2kzones sample`
$(filter $(abspath $(RAW))/%,$(N2K_INPUTS)): | $(SAMPLE_MANIFEST)

# every stage's target is its manifest; the recipe runs that stage
$(N2K_OUT)/manifest_%.json:
	$(N2K) $* --config $(CONFIG)

zones: $(N2K_TARGET_zones)  ## Zones per area and the national zone layer
overlay: $(N2K_TARGET_overlay)  ## Parcels and farms x zones: GeoPackage, area_summary.csv, farm_summary.csv
deposition: $(N2K_TARGET_deposition)  ## NH3 deposition on hexagon receptors and a 100 m grid; KDW overload per area
rko: $(N2K_TARGET_rko)  ## RKO threshold sweep: permit-free sources and their summed deposition
select: $(N2K_TARGET_select)  ## Propose zone widths from the deposition coming from the zones
scenario: $(N2K_TARGET_scenario)  ## Scenarios from the config and zone effectiveness (inside vs outside)
policy: $(N2K_TARGET_policy)  ## Thresholds per area, relative and foreign thresholds, required reductions, zone bases
maps: $(N2K_TARGET_maps)  ## Interactive maps: national overview and one map per area (self-contained HTML)
report: $(N2K_TARGET_report)  ## HTML report: figures, links to the maps and tables

demo: $(STAGES)  ## Generate the sample region and run every pipeline stage on it
	@echo "demo outputs in $(N2K_OUT)/: n2kzones.gpkg, area_summary.csv, farm_summary.csv, deposition.gpkg, area_deposition.csv, *.tif, rko_*.csv, zone_proposal.csv, scenarios.csv, zone_effectiveness.csv, maps/index.html, report/index.html"

REAL_CONFIG ?= config/real.toml
REAL_SHARED ?= ../shared/data/real
REAL_RAW    ?= data/raw/real
real: $(STAMP)  ## The whole pipeline on the real Netherlands (config/real.toml): data from ../shared/data/real if present, else data/raw/real
	@if [ -d "$(REAL_SHARED)" ]; then \
		$(BIN)/python -m n2kzones.datasets.realdata prepare --from $(REAL_SHARED) --out $(REAL_RAW); \
	else \
		echo "$(REAL_SHARED) is absent: using $(REAL_RAW) as 'make data-real' (and docs/real-data.md) fill it"; \
	fi
	@$(MAKE) --no-print-directory $(STAGES) CONFIG=$(REAL_CONFIG)
	@echo "real outputs in data/processed/real/ (output_dir of $(REAL_CONFIG)): maps/index.html, report/index.html"

bench: $(STAMP)  ## Benchmarks on the national-sized sample (slow; prints ratios)
	$(BIN)/python benchmarks/bench_overlay.py
	$(BIN)/python benchmarks/bench_deposition.py
	$(BIN)/python benchmarks/validate_kernel.py
	$(BIN)/python benchmarks/validate_aerius.py
	$(BIN)/python benchmarks/bench_rko.py

bench-scale: $(STAMP)  ## Dask engine: 1 and 2 workers, national sample and 10x synthetic (slow)
	$(BIN)/python benchmarks/bench_scale.py

BENCH_ARGS ?=
bench-pipeline: $(STAMP)  ## Every stage vs its compute core, national sample (slow; BENCH_ARGS='--scale 1 --profile')
	$(BIN)/python benchmarks/bench_pipeline.py $(BENCH_ARGS)

bench-growth: $(STAMP)  ## Every stage at 1x, 2x, 4x the national sample's parcels and farms (--densities): seconds, GB, growth exponent (slow)
	$(BIN)/python benchmarks/bench_growth.py $(BENCH_ARGS)

docs: $(STAMP)  ## Generate docs/cli.md and docs/config.md from the code, then build the site into build/site
	$(BIN)/python tools/gen_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir build/site

data-real: $(STAMP)  ## Download, verify and convert the official data (PDOK Natura 2000, BRP) into data/raw/real
	$(BIN)/python -m n2kzones.datasets.realdata --out data/raw/real $(REALDATA_ARGS)

data-landuse: $(STAMP)  ## CORINE Land Cover 2018 -> data/raw/real/receptor_landuse.tif (LANDUSE_ARGS='--url corine=<url>' or '--offline')
	$(BIN)/python -m n2kzones.datasets.realdata corine --out data/raw/real $(LANDUSE_ARGS)

habitat-standin: $(STAMP)  ## Offline habitat stand-in per area from the NDVH template -> data/raw/real/habitat_standin.gpkg
	$(BIN)/python -m n2kzones.datasets.realdata habitat-standin --out data/raw/real/habitat_standin.gpkg $(STANDIN_ARGS)

lint: $(STAMP)  ## ruff and the import-layer contract
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/lint-imports

clean-outputs:  ## Remove the config's generated outputs (its output folder)
	@[ -n "$(N2K_OUT)" ] && rm -rf "$(N2K_OUT)" || true

clean: clean-outputs  ## Remove outputs, generated sample data, the virtual environment
	rm -rf $(RAW) $(VENV) .n2k-deps
