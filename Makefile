# Two commands for a new machine: `make run` and `make test`. Everything else hangs off them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov lives in its own environment: installed into .venv it would downgrade the pinned boto3.
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
REGION ?= eu-west-3
STAGE ?= prod
STACK ?= depistage-$(STAGE)

.PHONY: run test install tools lint typecheck check unit format secrets bench package rehearse deploy fuzz load purge login clean lock \
	status verify-audit breach-scope export redrive retry help cognito soak campaign

# `make help`: every target with a `## what it does` comment, in this file's order.
help:  ## this list (a closed pipe, as in `make help | head`, ends it quietly)
	@trap '' PIPE; { awk -F':.*## ' '/^[a-z][a-z-]*:.*## / { printf "  make %-13s %s\n", $$1, $$2 }' $(MAKEFILE_LIST); \
	  echo "  operator commands take STACK_FILE=<stack.json> | STAGE=<name> [REGION=...], JSON=1, V=1;"; \
	  echo "  exit 0 healthy/done, 1 needs attention (named first), 2 could not check (one line on stderr)"; \
	} 2>/dev/null || true

# requirements.txt is the runtime lock (hashes, every transitive package): installed exactly, then
# the dev tools under it as constraints, so the tests run the versions the Lambda ships.
$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade 'pip<26.3'  # chalice 1.34 needs pip<26.3
	$(PY) -m pip uninstall --quiet --yes phonenumbers 2>/dev/null || true  # phonenumberslite owns the module
	$(PY) -m pip install --quiet --require-hashes -r requirements.txt
	# pip checks hashes for everything once a constraints file has any: constrain by the lock's pins alone
	sed -e '/--hash=/d' -e 's/ *\\$$//' requirements.txt > $(VENV)/constraints.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt -c $(VENV)/constraints.txt
	touch $(STAMP)

$(TOOLS_STAMP): infra/requirements-tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade 'pip<26.3'  # chalice 1.34 needs pip<26.3
	$(TOOLS)/bin/python -m pip install --quiet -r infra/requirements-tools.txt
	touch $(TOOLS_STAMP)

install: $(STAMP)

tools: $(TOOLS_STAMP)

run: $(STAMP)  ## the local stack (API, moto, fake SI-DEP, export) until Ctrl-C
	$(PY) -m devtools.stack

# Prints an API access token of the running local stack (stack.json): a Cognito user (password + TOTP)
# or a Pro Santé Connect professional (CIBA through the API, approved by the fake e-CPS).
login: $(STAMP)  # make -s login USER=<username> | make -s login PSC=<national_id> [STACK_FILE=<stack.json>]
	@$(PY) -m devtools.login $(if $(PSC),--psc $(PSC),$(USER)) $(if $(STACK_FILE),--stack $(STACK_FILE))

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# What .pre-commit-config.yaml runs on a commit, on the whole tree (make test runs it first).
check: $(STAMP)  ## ruff, the format check, strict mypy and the secrets scan, on the whole tree
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	git ls-files -z | xargs -0 $(VENV)/bin/detect-secrets-hook --exclude-files '\.json$$'

format: $(STAMP)  ## rewrite the tree in ruff's format, imports sorted
	$(VENV)/bin/ruff check --select I --fix .
	$(VENV)/bin/ruff format .

unit: $(STAMP)  ## the pure tests alone (tests/unit: no AWS, no moto), in seconds
	AWS_DEFAULT_REGION=eu-west-3 $(VENV)/bin/pytest -q -p no:cacheprovider tests/unit

# Coverage of the runtime (chalicelib, app.py), branches included, in this process and the test
# workers (the stack's processes are not measured); its floor is [tool.coverage.report] fail_under.
test: $(STAMP) $(TOOLS_STAMP) check  ## the checks, then every test with the runtime's branch coverage
	AWS_DEFAULT_REGION=eu-west-3 $(VENV)/bin/pytest -n 2 --dist loadgroup -p no:cacheprovider \
	  --cov --cov-report=term:skip-covered

# Re-lock after editing requirements.in (the Lambda is Linux x86_64, CPython 3.11).
lock: $(STAMP)
	$(VENV)/bin/uv pip compile requirements.in --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-manylinux2014 --custom-compile-command "make lock" -q -o requirements.txt

package: $(STAMP)
	AWS_DEFAULT_REGION=$(REGION) $(PY) -m infra.build --region $(REGION) --stage $(STAGE) --out build/package

# The packaged zip, unzipped into a fresh interpreter with the template's environment, runs every
# handler the template names against a local stack (infra/rehearse.py; make test runs it too).
rehearse: $(STAMP)
	AWS_DEFAULT_REGION=$(REGION) $(PY) -m infra.rehearse

deploy: package
	@test -n "$(ARTIFACT_BUCKET)" || { echo "set ARTIFACT_BUCKET=<S3 bucket in $(REGION)>" >&2; exit 2; }
	aws cloudformation package --region $(REGION) --template-file build/package/sam.json \
	  --s3-bucket $(ARTIFACT_BUCKET) --output-template-file build/package/packaged.yaml
	aws cloudformation deploy --region $(REGION) --template-file build/package/packaged.yaml \
	  --stack-name $(STACK) --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
	  $(if $(PARAMS),--parameter-overrides $(PARAMS))

bench: $(STAMP) package
	$(PY) -m bench.run

# MODEL_EXAMPLES: interleavings of the SI-DEP model-based test (make test runs 50)
MODEL_EXAMPLES ?= 1000
fuzz: $(STAMP)
	$(PY) -m devtools.fuzz --max-examples 500
	AWS_DEFAULT_REGION=eu-west-3 MODEL_MAX_EXAMPLES=$(MODEL_EXAMPLES) MODEL_SEED=random \
	  $(VENV)/bin/pytest -q -s -p no:cacheprovider tests/integration/test_sidep_model.py

load: $(STAMP)  ## 8 clients creating records on the local stack
	$(PY) -m devtools.load --clients 8 --creates 250

# A busy day on the local stack (`make run`'s, else one started for it), judged from SI-DEP's view
# (devtools/soak.py): RECORDS in all by CLIENTS at the two pharmacies, created within SOAK_SECONDS.
RECORDS ?= 10000
CLIENTS ?= 8
SOAK_SECONDS ?= 2400
soak: $(STAMP)  ## a busy day on the local stack, judged from SI-DEP's view (RECORDS, CLIENTS, SOAK_SECONDS)
	$(PY) -m devtools.soak --clients $(CLIENTS) --records $(RECORDS) --seconds $(SOAK_SECONDS) \
	  $(if $(STACK_FILE),--stack $(STACK_FILE))

# A campaign synchronised in 3 batches of 100 (a fifth captured offline the day before), watched
# until SI-DEP acknowledges each (devtools/campaign.py, docs/campaigns.md).
campaign: $(STAMP)  ## a 300-record campaign through POST /v1/test-batches, until SI-DEP acknowledges each
	$(PY) -m devtools.campaign $(if $(STACK_FILE),--stack $(STACK_FILE))

# Operator commands (docs/operations.md): the local stack of `make run` by default;
# STACK_FILE=<stack.json> for another, STAGE=<name> [REGION=...] for a deployed stage; JSON=1 for
# one JSON document on stdout; V=1 for log lines on stderr. Exit codes: operations/cli.py.
OPS = $(if $(STACK_FILE),--stack $(STACK_FILE)) \
	$(if $(filter command line,$(origin STAGE)),--stage $(STAGE) --region $(REGION)) \
	$(if $(JSON),--json) $(if $(V),$(if $(filter 2,$(V)),-vv,-v))

OPERATOR_status = operations.status $(OPS)
OPERATOR_verify-audit = operations.verify_audit $(if $(CHAIN),--chain $(CHAIN),--all) $(OPS)
OPERATOR_breach-scope = operations.breach_scope --from $(FROM) --to $(TO) $(if $(ACTOR),--actor $(ACTOR)) \
	$(if $(SOURCE_IP),--source-ip $(SOURCE_IP)) $(if $(FINESS),--finess $(FINESS)) \
	$(if $(OUT_DIR),--out-dir $(OUT_DIR)) $(OPS)
OPERATOR_export = operations.export run $(OPS) $(if $(EXPORT_MAX_ATTEMPTS),--max-attempts $(EXPORT_MAX_ATTEMPTS))
OPERATOR_retry = operations.export retry $(OPS)
OPERATOR_redrive = operations.export redrive $(OPS)
OPERATOR_purge = operations.purge $(if $(DRY_RUN),--dry-run) $(if $(NOW),--now $(NOW)) $(OPS)
OPERATOR_TARGETS = status verify-audit breach-scope export retry redrive purge

# Each operator command exits with its own code (0 healthy/done, 1 needs attention, 2 could not
# run), which make alone would turn into 2 whenever it is not 0. So when one operator command is
# the only goal and the venv is installed, it runs while make reads this file, and make ends with
# its code: 1 through --question (which runs no recipe), 0 and 2 through the target's recipe. Its
# stdout goes straight on make's (/proc/<make>/fd/1) where that is a pipe or a terminal, so that
# `make status | head -1` ends quietly with the command's code. Where make's stdout is a file, the
# command writes to a file of its own that make then prints ($(info), through make's descriptor):
# reopening the file would truncate it (`make status >> status.log` would wipe the log).
OPERATOR_GOAL := $(if $(filter 1,$(words $(MAKECMDGOALS))),$(filter $(OPERATOR_TARGETS),$(MAKECMDGOALS)))
ifneq ($(OPERATOR_GOAL),)
ifneq ($(wildcard $(STAMP)),)
OPERATOR_OUT := $(shell mktemp)
OPERATOR_EXIT := $(shell out=/proc/$$PPID/fd/1; [ -f "$$out" ] && out=$(OPERATOR_OUT); \
	$(PY) -m $(OPERATOR_$(OPERATOR_GOAL)) >"$$out"; echo $$?)
OPERATOR_TEXT := $(file <$(OPERATOR_OUT))
$(shell rm -f $(OPERATOR_OUT))
$(if $(OPERATOR_TEXT),$(info $(OPERATOR_TEXT)))
ifeq ($(OPERATOR_EXIT),1)
MAKEFLAGS += --question
endif
endif
endif
operator = $(if $(OPERATOR_EXIT),@exit $(OPERATOR_EXIT),@$(PY) -m $(OPERATOR_$@))

status: $(STAMP)  ## is SI-DEP getting our results? then the queue, the journal, retention
	$(operator)

verify-audit: $(STAMP)  ## verify the audit chains (CHAIN=<FINESS or platform> for one)
	$(operator)

breach-scope: $(STAMP)  ## record ids touched: FROM= TO= (RFC 3339) and ACTOR=, SOURCE_IP= or FINESS=; OUT_DIR=
	$(operator)

export: $(STAMP)  ## one SI-DEP export run now (EXPORT_MAX_ATTEMPTS=<n> for this run)
	$(operator)

retry: $(STAMP)  ## end the backoff of records waiting to retry (after an outage), journaled
	$(operator)

redrive: $(STAMP)  ## put dead letters back in the export queue
	$(operator)

purge: $(STAMP)  ## erase what retention says is due (DRY_RUN=1: report only; NOW=<RFC 3339>)
	$(operator)

# As the Cognito console does: the user's access tokens end too (the stage's CloudTrail event, or locally
# the same job run by the command).
cognito: $(STAMP)  ## as the Cognito console does, ending tokens: DO=disable|sign-out|delete|enable USER=<username>
	@$(PY) -m operations.users $(DO) $(USER) $(OPS)

clean:
	rm -rf $(VENV) $(TOOLS) build .local .mypy_cache .ruff_cache .pytest_cache
