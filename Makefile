# Two commands: `make demo` (main job on the embedded default) and `make test`.
# Both set up the environment first; setup is idempotent and re-runs only when its inputs change.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp

.PHONY: setup demo test lint bench clean-venv

$(STAMP): pyproject.toml constraints.txt scripts/setup_env.sh
	bash scripts/setup_env.sh
	touch $(STAMP)

setup: $(STAMP)

# writes bench/results/demo.json; e.g. `make demo DEMO_ARGS="--cold --reader 1.5b"`
demo: setup
	$(PY) -m tgrag.demo --json-out bench/results/demo.json $(DEMO_ARGS)

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

clean-venv:
	rm -rf $(VENV)
