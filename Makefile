# Shortcuts; the scripts are the real entry points (they need only bash and Python 3.11).
.PHONY: demo test bench clean
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
bench:
	bash -c 'source scripts/venv.sh && python bench/stark.py'
clean:
	rm -rf .venv demo-out .pytest_cache .mypy_cache .ruff_cache .hypothesis
