PYTHON ?= python3

.PHONY: test lint

test: lint
	$(PYTHON) -m pytest -q -ra

lint:
	ruff check .
