# refclip — build, test, benchmark and demo entry points. `make demo` and `make test` work on a fresh
# Debian machine: `deps` installs the system packages that are missing.

SWIFT        ?= swift
CONFIG       ?= release
BUILD_FLAGS  := -c $(CONFIG)
BIN           = $(shell $(SWIFT) build $(BUILD_FLAGS) --show-bin-path)
# Chromium renders `refclip report` pages headless in the tests.
APT_PACKAGES := libopenmpi-dev openmpi-bin libopenblas-dev libzstd-dev libturbojpeg0-dev libpng-dev zlib1g-dev pkg-config \
                python3 python3-venv chromium iproute2
# Python with safetensors (to check exports the way PyTorch users read them) and PyTorch (to write .pth
# files and the detector's reference fixture, and for make bench-peer): a CPU wheel pip finds locally
# (find-links) first, with its dependencies from PyPI; else PyTorch's CPU index; else PyPI's default.
PYTHON_ENV   := .build/python
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# mpirun refuses root unless told; tests and benches run as root in CI containers.
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OMPI_MCA_rmaps_base_oversubscribe := 1

.PHONY: deps python build test test-kernels test-cluster test-elastic fuzz bench bench-peer bench-scale demo clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

python: deps
	@$(PYTHON_ENV)/bin/python -c 'import safetensors.numpy, torch' 2>/dev/null || { \
	  python3 -m venv $(PYTHON_ENV) && $(PYTHON_ENV)/bin/pip install --quiet safetensors numpy && \
	  { $(PYTHON_ENV)/bin/pip install --quiet --no-index --no-deps torch 2>/dev/null; \
	    $(PYTHON_ENV)/bin/pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu 2>/dev/null || \
	    $(PYTHON_ENV)/bin/pip install --quiet torch; }; }

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

# Tests run optimized (the numeric layers are too slow unoptimized); the MPI tests launch the
# `refclip` binary that `swift test` builds (with testing enabled: a separate `swift build` first would
# compile everything twice) under mpirun. Then the multi-host tests (test-cluster, test-elastic), which
# skip (saying so) where the machine does not allow network namespaces.
test: deps python
	REFCLIP_BIN=$(BIN)/refclip REFCLIP_PYTHON=$(PYTHON_ENV)/bin/python $(SWIFT) test $(BUILD_FLAGS)
	REFCLIP_BIN=$(BIN)/refclip cluster/harness/test-cluster.sh
	REFCLIP_BIN=$(BIN)/refclip REFCLIP_PYTHON=$(PYTHON_ENV)/bin/python cluster/harness/test-elastic.sh

# The numeric tests under OPENBLAS_CORETYPE = default, PRESCOTT, HASWELL, SKYLAKEX and OPENBLAS_NUM_THREADS
# = unset, 1, 2 (kernels this CPU cannot run are skipped, saying so); prints a table with the times.
test-kernels: deps python
	REFCLIP_BIN=$(BIN)/refclip REFCLIP_PYTHON=$(PYTHON_ENV)/bin/python SWIFT=$(SWIFT) CONFIG=$(CONFIG) Tests/test-kernels.sh

# Two namespace hosts on one bridge, MPI over TCP between them (cluster/harness/): equivalence with
# the single process at 2×1 and 2×2 ranks, a cut link mid-run, and resume on one host. Needs root.
test-cluster: deps
	$(SWIFT) build $(BUILD_FLAGS) --product refclip
	REFCLIP_BIN=$(BIN)/refclip cluster/harness/test-cluster.sh

# libFuzzer over every reader of outside files (.pth, checkpoints, safetensors, feature stores, Darknet
# .cfg/.weights, annotations, word vectors, configs, images): Tests/fuzz.sh runs `refclip-fuzz TARGET`
# FUZZ_SECONDS per target (default 60), FUZZ_JOBS at a time (default 2), from the committed seeds
# (Tests/Fixtures/fuzz-seeds) and the corpus it grows under .build/fuzz; a finding fails the run.
# Built apart (.build-fuzz) with -sanitize=fuzzer,address, linked by the toolchain's lld.
FUZZ_SECONDS ?= 60
fuzz: deps
	$(SWIFT) build -c release --scratch-path .build-fuzz --product refclip-fuzz \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld
	FUZZ_SECONDS=$(FUZZ_SECONDS) Tests/fuzz.sh .build-fuzz/release/refclip-fuzz

# A teacher run under `cluster/launch.sh --elastic 2:3` over three namespace hosts heals itself: a cut
# link and a killed rank each restart it on the hosts that answer, the run finishes where the same world
# sizes taken by hand end, and too few hosts stop it at once (cluster/harness/test-elastic.sh). Root.
test-elastic: deps python
	$(SWIFT) build $(BUILD_FLAGS) --product refclip
	REFCLIP_BIN=$(BIN)/refclip REFCLIP_PYTHON=$(PYTHON_ENV)/bin/python cluster/harness/test-elastic.sh

bench: deps
	$(SWIFT) build $(BUILD_FLAGS)
	OPENBLAS_NUM_THREADS=1 $(BIN)/refclip-bench compute checkpoint detector paper-detector
	OPENBLAS_NUM_THREADS=1 mpirun -np 2 --bind-to none $(BIN)/refclip-bench allreduce teacher student
	OPENBLAS_NUM_THREADS=2 $(BIN)/refclip-bench memory

# What distribution costs on real links: all-reduce bandwidth and the reference-size teacher and
# student steps (overlap off/on, f32/bf16 gradients) over 2 and 4 network-namespace hosts whose links
# tc shapes to 1 and 10 Gbit/s, one rank × one BLAS thread per host; then the α–β model's prediction
# for 8–256 hosts (cluster/harness/bench-scale.sh; root, else it says why it skips; ~25 minutes).
bench-scale: deps
	$(SWIFT) build $(BUILD_FLAGS) --product refclip-bench
	REFCLIP_BENCH=$(BIN)/refclip-bench cluster/harness/bench-scale.sh

# refclip's reference-size teacher step against the same step restated in PyTorch (bench/peer/), on
# the same 2 cores, interleaved. `python` installs CPU PyTorch into the venv when missing (PyTorch's
# CPU index, else PyPI's default build, which also runs on CPU).
bench-peer: deps python
	$(SWIFT) build $(BUILD_FLAGS) --product refclip-bench
	$(PYTHON_ENV)/bin/python bench/peer/compare.py --refclip-bench $(BIN)/refclip-bench

# The synthetic end-to-end pipeline on 2 ranks: generate data; train the teacher without boxes;
# label every training expression with its boxes; train the student on those pseudo-labels; fine-tune
# the teacher with SynGround's attention-mask consistency loss on the training boxes and train a second
# student on the fine-tuned teacher's pseudo-labels mixed with the true boxes of a synthetic set of a
# third seed and scene distribution; evaluate every model side by side on every split beside the
# baselines, then on an evaluation set drawn from another scene distribution, where the mixed student
# is also compared with its teacher item by item. Regenerates data/synthetic*, runs/synthetic-*.
DEMO_RANKS ?= 2
DEMO_MPI    = OPENBLAS_NUM_THREADS=1 mpirun -np $(DEMO_RANKS) --bind-to none
DEMO_MODELS = --checkpoint runs/synthetic-teacher/best.refclip --checkpoint runs/synthetic-student/best.refclip \
              --checkpoint runs/synthetic-teacher-amc/best.refclip --checkpoint runs/synthetic-student-mix/best.refclip
DEMO_SHIFTED = --set data.annotations=data/synthetic-shifted/annotations.json --set data.features=data/synthetic-shifted/features
DEMO_PSEUDO = --pseudo-labels runs/synthetic-teacher/pseudo-labels.json --pseudo-labels runs/synthetic-teacher-amc/pseudo-labels.json
demo: build
	rm -rf data/synthetic data/synthetic-shifted data/synthetic-extra runs/synthetic-teacher runs/synthetic-student runs/synthetic-teacher-amc \
	  runs/synthetic-student-mix
	$(BIN)/refclip synth --config configs/synthetic-data.yaml --out data/synthetic
	$(BIN)/refclip synth --config configs/synthetic-shifted.yaml --out data/synthetic-shifted
	$(BIN)/refclip synth --config configs/synthetic-extra.yaml --out data/synthetic-extra
	$(DEMO_MPI) $(BIN)/refclip train --config configs/synthetic-teacher.yaml
	$(DEMO_MPI) $(BIN)/refclip pseudo-label --checkpoint runs/synthetic-teacher/best.refclip --out runs/synthetic-teacher/pseudo-labels.json
	$(DEMO_MPI) $(BIN)/refclip train --config configs/synthetic-student.yaml
	$(DEMO_MPI) $(BIN)/refclip train --config configs/synthetic-teacher-amc.yaml
	$(DEMO_MPI) $(BIN)/refclip pseudo-label --checkpoint runs/synthetic-teacher-amc/best.refclip --out runs/synthetic-teacher-amc/pseudo-labels.json
	$(DEMO_MPI) $(BIN)/refclip train --config configs/synthetic-student-mix.yaml
	@echo "\n## Synthetic evaluation set (same distribution as training)\n"
	$(BIN)/refclip eval $(DEMO_MODELS) --split val --split testA --split testB \
	  $(DEMO_PSEUDO) --json runs/synthetic-results.json
	@echo "\n## Shifted evaluation set (configs/synthetic-shifted.yaml: other seed, objects, look-alikes, mixes)\n"
	$(BIN)/refclip eval $(DEMO_MODELS) --split val --split testA --split testB $(DEMO_SHIFTED) \
	  --paired --json runs/synthetic-shifted-results.json
	@echo "\n## Shifted evaluation set: the mixed student against its teacher, item by item\n"
	$(BIN)/refclip eval --checkpoint runs/synthetic-teacher-amc/best.refclip --checkpoint runs/synthetic-student-mix/best.refclip \
	  --split val --split testA --split testB $(DEMO_SHIFTED) --paired

clean:
	rm -rf .build
