PYTHON ?= python3

.PHONY: test lint chaos

test: lint
	$(PYTHON) -m pytest -q -ra

lint:
	ruff check .

# The full chaos run (2,000 deposits + 2,000 withdrawals, ~12 min); `make test` runs the CI size.
chaos:
	CHAOS_SIZE=full CHAOS_REPORT=$${CHAOS_REPORT:-/tmp/anchor-chaos-report.json} $(PYTHON) -m pytest -s -q tests/reliability/test_chaos.py
