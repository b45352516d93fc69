# dcae_nb: two commands on a fresh machine (README.md):
#   make reproduce   set up .venv, fetch weights and photos, run the main job (quick profile; SEED=N for another base seed,
#                    into its own folder runs/reproduce-quick-seedN)
#   make test        set up .venv, check notebooks and package are in sync and clean, nbdev_test, pytest tests
# and for readers and developers:
#   make lab         JupyterLab on nbs/ with the project's kernel (notebooks open with their saved figures)
#   make notebooks   re-execute the teaching notebooks and save their outputs (NB=01_shortcuts for one; SLOW=1 for #| slow cells)
#   make docs        build the static documentation site into _docs/ (from the saved outputs; no Quarto)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.dcae_nb-installed
PROFILE ?= quick
OUT    ?= runs/reproduce-$(PROFILE)$(if $(SEED),-seed$(SEED))
export PYTHONUNBUFFERED := 1

.PHONY: install test check-clean nbtest pytest reproduce publish weights photos lock lab notebooks docs browser-deps

# The lock goes in with uv (pinned below, installed into .venv by pip; parallel downloads, links from its cache): 14 s
# cold and about 1 s warm, where pip took 55 s warm without byte-compiling (83 s with) on a 2-core AMD EPYC. Where uv
# cannot be installed (no wheel for the platform), pip installs the same pins. Both byte-compile the packages at install
# (uv: about 17 s on 2 cores): every notebook kernel and spawned worker of a run imports torch, matplotlib, scipy,
# torchvision and lpips, 4 s from .pyc files and 9 s from source, and nothing writes .pyc files later where
# PYTHONDONTWRITEBYTECODE is set.
UV_VERSION := 0.13.10
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check
$(STAMP): requirements-ci.txt setup.py settings.ini
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if $(PIP) uv==$(UV_VERSION) 2>/dev/null; then \
	  echo "uv pip install -r requirements-ci.txt, then -e ."; \
	  $(BIN)/uv pip install -q --compile-bytecode -p $(BIN)/python -r requirements-ci.txt && $(BIN)/uv pip install -q -p $(BIN)/python --no-deps -e . ; \
	else \
	  echo "uv $(UV_VERSION) not installable here: pip install -r requirements-ci.txt, then -e ."; \
	  $(PIP) -r requirements-ci.txt && $(PIP) --no-deps -e . ; \
	fi
	$(BIN)/python -m ipykernel install --sys-prefix --name dcae_nb --display-name dcae_nb >/dev/null
	@touch $(STAMP)

install: $(STAMP)

# Fails when nbdev_export or nbdev_clean would change a file (what CI checks on every commit).
check-clean: install
	@if ! git rev-parse --git-dir >/dev/null 2>&1; then echo "not a git checkout: export/clean check skipped"; exit 0; fi; \
	state() { git status --porcelain --untracked-files=all -- nbs dcae_nb; git diff -- nbs dcae_nb; }; \
	before="$$(state)"; \
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean || exit 1; \
	after="$$(state)"; \
	if [ "$$before" != "$$after" ]; then \
	  echo "nbdev_export / nbdev_clean changed files: notebooks and dcae_nb/ were out of sync or not clean."; \
	  git status --short -- nbs dcae_nb; exit 1; fi; \
	echo "notebooks and package are in sync and clean"

weights: install
	$(BIN)/dcae fetch weights

photos: install
	$(BIN)/dcae fetch photos

# The notebooks' scratch folders go to one private TMPDIR, removed afterwards (pass or fail), so that repeated test runs
# never fill the disk with training runs left in /tmp.
nbtest: install weights
	@tmp="$$(mktemp -d "$${TMPDIR:-/tmp}/dcae-nbtest.XXXXXX")"; echo "TMPDIR=$$tmp $(BIN)/nbdev_test --path nbs --n_workers 2 --timing"; \
	TMPDIR="$$tmp" $(BIN)/nbdev_test --path nbs --n_workers 2 --timing; rc=$$?; rm -rf "$$tmp"; exit $$rc

pytest: install weights browser-deps
	$(BIN)/python -m pytest tests -q -ra

test: check-clean nbtest pytest

# Debian's Chromium for the browser test (tests/test_browser.py), where this machine can install it (root, apt);
# elsewhere the test is skipped and says why.
browser-deps:
	@if command -v chromium >/dev/null 2>&1 || [ -n "$$DCAE_CHROMIUM" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "could not install chromium: the browser test will be skipped"; \
	else echo "no chromium and no root apt-get: the browser test will be skipped (apt-get install chromium)"; fi

# JupyterLab refuses to start as root unless told (containers and CI images often run as root).
lab: install
	$(BIN)/jupyter lab --notebook-dir=nbs $(if $(filter 0,$(shell id -u)),--allow-root)

notebooks: install weights
	$(BIN)/python tools/run_notebooks.py $(NB) $(if $(SLOW),--slow)

docs: install
	$(BIN)/python tools/build_docs.py

reproduce: install weights photos
	$(BIN)/dcae reproduce --profile $(PROFILE) --out $(OUT) $(if $(SEED),--seed $(SEED))

# Copy a finished run's report, results and figures (not the models) to $(DEST) for committing, and rebuild its
# REPORT.md there (`make publish SEED=30`: runs/reproduce-quick-seed30 into data/repro-quick-planned-seed30, beside the
# first). Quick runs go to data/repro-quick-planned*: data/repro-quick, -seed10 and -seed20 are the pilot runs the
# quick profile's power plan (data/power_plan_quick.json) was made from, kept as they are.
DEST ?= data/repro-$(PROFILE)$(if $(filter quick,$(PROFILE)),-planned)$(if $(SEED),-seed$(SEED))
publish: install
	@test -f $(OUT)/REPORT.md || { echo "no $(OUT)/REPORT.md: run 'make reproduce' first"; exit 1; }
	rm -rf $(DEST) && mkdir -p $(DEST)
	cp $(OUT)/REPORT.md $(OUT)/run.json $(DEST)/
	cd $(OUT) && for d in [0-9]*/; do mkdir -p $(abspath $(DEST))/$$d && cp $$d/results.json $$d/*.png $(abspath $(DEST))/$$d 2>/dev/null; done; true
	$(BIN)/dcae reproduce --report-only --out $(DEST)

# Refresh the CI lock from the current .venv (developers only).
lock:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v -E '^(jupytext|mdit-py-plugins|markdown-it-py|mdurl|uv)==' \
	  | sed -E 's/^([A-Za-z0-9._-]+) @ file:.*\/[A-Za-z0-9_.]+-([0-9][^-]*)-.*$$/\1==\2/' > requirements-ci.txt
	@! grep -n ' @ ' requirements-ci.txt || { echo "requirements-ci.txt pins a local file (above): install that package from the registry and rerun make lock"; exit 1; }
