PYTHON ?= python3

.PHONY: test lint chaos compose-test

# The tests mostly wait (ledgers, polls, processes starting), so four test processes share the
# two cores, each with its own RabbitMQ and PostgreSQL; the long tests start first
# (tests/support/scheduling.py).
test: lint
	$(PYTHON) -m pytest -q -ra -n 4 --dist load

lint:
	ruff check .
	lint-imports
	$(PYTHON) -m mypy

# The full chaos run (2,000 deposits + 2,000 withdrawals, ~12 min a backend; CHAOS_API=horizon or
# rpc runs one); `make test` runs the CI size on both.
chaos:
	CHAOS_SIZE=full CHAOS_REPORT=$${CHAOS_REPORT:-/tmp/anchor-chaos-report.json} $(PYTHON) -m pytest -s -q tests/reliability/test_chaos.py -k "$${CHAOS_API:-horizon or rpc}"

# The Dockerfile built and docker-compose.yml brought up end to end on a private Docker daemon
# (tests/compose; docs/operations.md, "Testing the deployment offline"). Needs root.
compose-test:
	ANCHOR_COMPOSE_TEST=1 $(PYTHON) -m pytest -s -q -ra -p no:cacheprovider tests/compose
