# ddns_agent — developer entry points. `make run` and `make test` are the README's two commands.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
export SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: run test test-openwrt lint bench ipk clean deps

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,fast]'
	touch $@

## run: the agent's main job once, on an embedded demo config (log provider, no account needed)
run: $(VENV)/.installed
	@sh tools/demo-config.sh > $(VENV)/demo.conf
	@echo "== config: $(VENV)/demo.conf (provider 'log': publishes nothing)"
	@echo "== ddns-agent plan"
	@$(VENV)/bin/ddns-agent --config $(VENV)/demo.conf --state-dir $(VENV)/state plan
	@echo "== ddns-agent update"
	@$(VENV)/bin/ddns-agent --config $(VENV)/demo.conf --state-dir $(VENV)/state update; \
	  rc=$$?; echo "== exit code $$rc (0 ok, 1 a record failed, 2 config error)"

## deps: system parts the tests use for real (BIND9, shellcheck, miniupnpd, coturn, iproute2)
deps:
	sh tools/test-deps.sh

## test: the whole suite (needs root: network namespaces, BIND9)
test: deps $(VENV)/.installed
	$(PY) -m pytest tests

## test-openwrt: only the real-OpenWrt lab tests (OPENWRT_ROOTFS=path/to/openwrt-22.03.4-x86_64-rootfs.tar.xz)
test-openwrt: $(VENV)/.installed
	$(PY) -m pytest tests/test_openwrt_e2e.py tests/test_openwrt_idle.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

## bench: speed and memory ratios measured side by side (not part of `make test`); the `openwrt`
## group needs OPENWRT_ROOTFS like the lab tests, and says `skipped` without it
bench: deps $(VENV)/.installed
	PYTHON=$(PY) sh tools/bench-peers.sh build/bench-peers
	$(PY) bench/run.py

ipk:
	$(PYTHON) tools/build_ipk.py --out dist/

clean:
	rm -rf $(VENV) dist build *.egg-info .pytest_cache bench/results.json
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
