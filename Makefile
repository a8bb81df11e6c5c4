# The two commands of the README. Both set up a fresh machine themselves (deploy/setup.sh).
.PHONY: run test faults setup

setup:
	bash deploy/setup.sh

run: setup
	.venv/bin/python -m deploy.run $(ARGS)

test: setup
	.venv/bin/python -m pytest -q $(ARGS)

# The fault and abuse suite (python -m faults --help); CI runs it with ARGS=--quick.
faults: setup
	.venv/bin/python -m faults $(ARGS)
