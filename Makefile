# One entry point for people and CI. A fresh machine needs Python 3.11 and make, nothing else.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PROTO_DIR := protos
PROTO_SRC := $(wildcard $(PROTO_DIR)/recsys/v1/*.proto)
PROTO_OUT := $(PROTO_SRC:.proto=_pb2.py)

export REGISTRY_DIR ?= models
export WORLD_DIR ?= data/world

.PHONY: help install proto run demo test unit integration lint train world artifacts bench chaos restarts simulate eval eval-kuairand eval-models deploy-check clean \
  loop-deps export retrain gate loop profile floor
help:
	@echo "make run    - set up everything, then run the whole stack (Ctrl-C stops it); DATA=folder serves your own log"
	@echo "make demo   - set up, start, print feeds for three users, show a feed learning, stop"
	@echo "make test   - unit and integration tests (real services, real Redis)"
	@echo "make train  - generate the world (if missing) and train + publish new model versions"
	@echo "make bench  - benchmarks and trade-off reports into bench/results/ (latest.json: end to end)"
	@echo "make profile - py-spy flame graphs of the four running services at 1 and 16 users -> bench/results/profiles/"
	@echo "make floor  - what a stage costs as a service and why (priority, pinning, gaps, the gateway's own work) -> bench/results/floor.*"
	@echo "make chaos  - faults under load (kills, Redis crash, latency, swaps, overload, fuzz) -> bench/results/chaos.json"
	@echo "make restarts - kill and restart rerank and recall 200 times under light load, catch native crashes -> bench/results/restarts.json"
	@echo "make eval   - train + evaluate every model and baseline offline -> reports/eval-synthetic.*"
	@echo "make eval-models - the ranking architectures side by side, 3 seeds each -> reports/models-synthetic.*"
	@echo "make eval-kuairand - eval and eval-models on the real KuaiRand sample in $(KUAIRAND_DIR) -> reports/{eval,models}-kuairand.*"
	@echo "make simulate - simulated users scroll the live system (closed loop) -> reports/simulate.*"
	@echo "make export / retrain / gate - the learning loop's steps against a running stack (EXPORT_URI, REDIS_PREFIX)"
	@echo "make loop   - N simulated days of the system learning from its own traffic -> reports/loop.*"
	@echo "make deploy-check - render and validate the Kubernetes manifests offline"
	@echo "make proto  - regenerate gRPC stubs from protos/"
	@echo "make lint   - ruff"

# The venv is rebuilt when pyproject.toml changes. torch is pinned (CPU build) in pyproject.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null \
	  || { echo "need Python 3.11 (found: $(PYTHON)); set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[train,dev]'
	touch $@

install: $(VENV)/.installed proto

$(PROTO_DIR)/recsys/v1/%_pb2.py: $(PROTO_DIR)/recsys/v1/%.proto $(VENV)/.installed
	$(PY) -m grpc_tools.protoc -I $(PROTO_DIR) --python_out=$(PROTO_DIR) \
	  --pyi_out=$(PROTO_DIR) --grpc_python_out=$(PROTO_DIR) $<

proto: $(PROTO_OUT)

world: install
	@test -f $(WORLD_DIR)/world.json || $(PY) -m training.world --out $(WORLD_DIR)

train: world
	$(PY) -m training.train --world $(WORLD_DIR) --registry $(REGISTRY_DIR) --fit-fusion --serving

# Train only when no live versions exist (make train always publishes new ones).
artifacts: world
	@test -f $(REGISTRY_DIR)/ranker/aliases.json || $(PY) -m training.train --world $(WORLD_DIR) --registry $(REGISTRY_DIR) --fit-fusion --serving

# One thread for the in-process micro-benchmarks: the numbers are per core.
bench: artifacts
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(PY) -m bench.rerank --registry $(REGISTRY_DIR)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(PY) -m bench.rank --registry $(REGISTRY_DIR)
	$(PY) -m training.evaluate_rerank --world $(WORLD_DIR) --registry $(REGISTRY_DIR) --out bench/results
	$(PY) -m bench.recall --registry $(REGISTRY_DIR) --world $(WORLD_DIR)
	$(PY) -m bench.e2e --registry $(REGISTRY_DIR) --world $(WORLD_DIR)

profile: artifacts
	$(PY) -m bench.profile --registry $(REGISTRY_DIR) --world $(WORLD_DIR)

floor: artifacts
	$(PY) -m bench.floor --registry $(REGISTRY_DIR) --world $(WORLD_DIR)

chaos: artifacts
	$(PY) -m bench.chaos --registry $(REGISTRY_DIR) --world $(WORLD_DIR)

restarts: artifacts
	$(PY) -m bench.restarts --registry $(REGISTRY_DIR) --world $(WORLD_DIR)

# Offline evaluation of the synthetic world (other datasets: python -m training.evaluate --help).
# Metrics on every eligible test user (1,297 on the default world; a sample of 1,000 left
# intervals wider than the differences they had to tell apart).
EVAL_USERS ?= 5000
eval: world
	$(PY) -m training.evaluate --dataset synthetic --path $(WORLD_DIR) --out reports/eval-synthetic.json \
	  --dump-recs reports/eval-synthetic-recs.jsonl --users $(EVAL_USERS)

# DeepFM, DCN-v2, DIN, BST, MMoE, PLE: 3 seeds each, quality, feed NDCG@10, parity, latency.
# 300 pipeline users per run: the 18 runs train 19 rankers, the bulk of the time.
eval-models: world
	$(PY) -m training.compare_models --world $(WORLD_DIR) --out reports/models-synthetic.json --users 300
# The real short-video log (KuaiRand-Pure sample, CC BY-SA 4.0), read in place, never copied.
KUAIRAND_DIR ?= ../shared/datasets/kuairand-pure-sample
# The architectures side by side on it too (reports/models-kuairand.*): the issue's six (not
# din_small_init) and 200 test users for the feed NDCG@10 keep 6 x 3 runs in reach of 2 cores.
KUAIRAND_MODELS ?= din,deepfm,dcn_v2,bst,mmoe,ple
KUAIRAND_MODELS_USERS ?= 200
# The sample's every eligible test user (4,563): its intervals are wide at 1,000.
KUAIRAND_USERS ?= $(EVAL_USERS)
eval-kuairand: install
	@if ls $(KUAIRAND_DIR)/log_*.csv >/dev/null 2>&1; then \
	  $(PY) -m training.evaluate --dataset kuairand --path $(KUAIRAND_DIR) --out reports/eval-kuairand.json \
	    --dump-recs reports/eval-kuairand-recs.jsonl --users $(KUAIRAND_USERS) && \
	  $(PY) -m training.compare_models --dataset kuairand --path $(KUAIRAND_DIR) --out reports/models-kuairand.json \
	    --models $(KUAIRAND_MODELS) --users $(KUAIRAND_MODELS_USERS); \
	else echo "eval-kuairand: no KuaiRand log in $(KUAIRAND_DIR) (set KUAIRAND_DIR=...); skipped"; fi

# Closed loop: simulated users from the world scroll a freshly started stack (own Redis prefix).
simulate: artifacts
	$(PY) -m training.simulate --world $(WORLD_DIR) --registry $(REGISTRY_DIR) --out reports/simulate.json

# The learning loop (pyarrow + Ray Data: the `loop` extra, not in the serving images).
export EXPORT_URI ?= data/logs
LOOP_DAYS ?= 7
# e.g. LOOP_ARGS="--no-retrain --out reports/loop-no-retrain.json": the no-learning baseline
LOOP_ARGS ?=
$(VENV)/.loop-installed: pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet -e '.[loop]'
	touch $@

loop-deps: install $(VENV)/.loop-installed

export: loop-deps
	$(PY) -m training.loop.exporter --out $(EXPORT_URI) --once

retrain: export
	$(PY) -m training.loop.retrain --logs $(EXPORT_URI) --registry $(REGISTRY_DIR) --redis-url "$${REDIS_URL:-redis://127.0.0.1:6379/0}"

gate: export
	$(PY) -m training.loop.gate --logs $(EXPORT_URI) --registry $(REGISTRY_DIR) --apply

loop: artifacts loop-deps
	$(PY) -m training.loop.run --world $(WORLD_DIR) --registry $(REGISTRY_DIR) --days $(LOOP_DAYS) --out reports/loop.json $(LOOP_ARGS)

# DATA=path/to/folder serves your own log (the generic schema, KuaiRand or MovieLens) instead
# of the synthetic world: imported once per content hash into data/datasets/, trained there.
run: install
	$(PY) -m dev.stack run $(if $(DATA),--data $(DATA))

demo: install
	$(PY) -m dev.stack demo

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

unit: install
	$(PY) -m pytest -q -m "not integration"

integration: install
	$(PY) -m pytest -q -m integration

# Render every kustomize overlay and validate it against the Kubernetes schemas, offline
# (also part of `make test`; skipped, with the reason, where kubectl is absent).
deploy-check: install
	$(PY) -m pytest -q -rs tests/deploy

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(PROTO_DIR)/recsys/v1/*_pb2*.py* run/
