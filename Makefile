# The two entry points are `make book` and `make test`; both set everything up on a fresh machine.
PROFILE ?= cpu
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mglib-installed
# One intra-op thread for the book and the tests: the same float reduction order on every machine (nbval compares
# stored outputs; training must be bitwise repeatable) and no oversubscription on a shared 2-core machine.
# Override with e.g. `make book OMP_NUM_THREADS=4`.
OMP_NUM_THREADS ?= 1
export OMP_NUM_THREADS
# The tests and `make outputs` take the AVX2 kernels of torch, MKL and oneDNN on every x86 machine, as `mglib run` and
# `mglib book` give every notebook kernel (see runner.X86_KERNELS): nbval compares outputs with the stored ones, and
# an AVX-512 machine rounds differently, enough to flip e.g. which τ wins a tie.
SMOKE_KERNELS := ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2 ONEDNN_MAX_CPU_ISA=AVX2

.PHONY: book test install data outputs lock clean-book

# Stamp depends on the lock and pyproject: editing either re-installs, otherwise the install is skipped.
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

install: $(STAMP)

data: $(STAMP)
	$(PY) -m mglib data ensure --profile $(PROFILE)

book: $(STAMP)
	$(PY) -m mglib book --profile $(PROFILE)

test: $(STAMP)
	$(PY) -m mglib data ensure --profile smoke
	$(SMOKE_KERNELS) $(PY) -m pytest
	$(SMOKE_KERNELS) $(PY) -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks/

# Re-execute every notebook at the smoke profile and store its outputs in place: the reference nbval compares
# against. Run after changing a notebook or the library code it calls.
outputs: $(STAMP)
	$(PY) -m mglib data ensure --profile smoke
	cd notebooks && for nb in *.ipynb; do $(SMOKE_KERNELS) ../$(PY) -m papermill -k python3 --cwd . --no-progress-bar "$$nb" "$$nb" || exit 1; done

# Re-resolve the pins from pyproject (needs the package registry).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install -q torch==2.13.0 ".[book,test]"
	{ echo "# Pinned environment shared by the Makefile, .ci/run and environment.yml."; \
	  echo "# Regenerate with: make lock  (after editing pyproject.toml)."; echo "torch==2.13.0"; \
	  .venv-lock/bin/pip freeze --exclude-editable | grep -v -e '^torch==' -e '^mglib'; } > requirements.lock

clean-book:
	rm -rf _build book/executed
