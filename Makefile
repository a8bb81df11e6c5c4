# The two commands of the README. Both set up a fresh machine themselves (deploy/setup.sh).
.PHONY: run test setup

setup:
	bash deploy/setup.sh

run: setup
	.venv/bin/python -m deploy.run $(ARGS)

test: setup
	.venv/bin/python -m pytest -q $(ARGS)
