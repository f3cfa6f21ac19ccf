# Parley: `make dev` runs the local stack, `make test` installs everything, runs the static checks and every test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: dev test check browser openapi bench clean

$(STAMP): requirements.txt requirements-dev.txt streaming-fargate/requirements.txt streaming-fargate/requirements-nodeps.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<26.3"  # chalice 1.34 requires pip<26.3
	# llama.cpp's native CPU detection crashes on some machines: build it portable.
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PY) -m pip install --quiet -r requirements-dev.txt
	# Wheels we only read a model file from (Smart Turn's ONNX inside pipecat-ai), without their dependencies.
	$(PY) -m pip install --quiet --no-deps -r streaming-fargate/requirements-nodeps.txt
	# The repository itself, editable: app, chalicelib, streaming, parley_infra, devstack and cli import by name.
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

dev: $(STAMP)
	$(PY) -m devstack

# Static checks first (ruff, then mypy; both configured in pyproject.toml), then the whole pytest suite, its modules
# spread over two workers (pytest-xdist; each module's tests stay together on one, in order).
test: check browser
	$(PY) -m pytest -n 2 --dist loadfile

# tests/browser drive Debian's chromium through Playwright (whose own browser download cannot work offline):
# install it with apt when missing, as root or through sudo. If it cannot be installed, those tests skip, saying why.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "chromium is missing and we are neither root nor sudoer: browser tests will skip"; exit 0; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends chromium || echo "could not install chromium: browser tests will skip"; }

check: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) -m tests.bench.live_status
	$(PY) -m tests.bench.voice_latency
	$(PY) -m tests.bench.false_cutoffs
	$(PY) -m tests.bench.voice_capacity
	$(PY) -m tests.bench.web_latency
	$(PY) -m tests.bench.web_browser_latency
	$(PY) -m tests.bench.web_capacity
	$(PY) -m tests.bench.engines
	$(PY) -m tests.bench.post_call
	$(PY) -m tests.bench.conversation_quality
	$(PY) -m tests.bench.monitoring_latency
	$(PY) -m tests.bench.monitoring_fanout

openapi: $(STAMP)
	$(PY) -m cli.openapi

clean:
	rm -rf $(VENV) .dev .pytest_cache infra/cdk.out
