# agentgate — every target runs on Node 24 from node_modules (the machine's
# Node may be older), so put node_modules/.bin first on PATH.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
JEST := node --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js

.PHONY: all deps system-deps build test unit integration e2e bench demo lint clean cluster-up cluster-down

all: build

# `npm install`, not `npm ci`: npm 11 leaves other platforms' optional
# bindings (unrs-resolver, via jest) out of the lock file and then refuses
# `npm ci`; install still follows the lock for every package it holds.
node_modules/.package-lock.json: package.json package-lock.json
	npm install --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json system-deps

system-deps:
	@bash scripts/install-system-deps.sh

build: node_modules/.package-lock.json
	tsc -p tsconfig.build.json

lint: node_modules/.package-lock.json
	eslint .
	tsc -p tsconfig.json --noEmit

# The whole suite: unit, integration (real PostgreSQL / sshd / HTTP), and e2e
# (a real kube-apiserver + etcd, built once and cached outside the repo).
test: deps build
	$(JEST) --ci

unit: node_modules/.package-lock.json
	$(JEST) --ci --selectProjects unit

integration: deps build
	$(JEST) --ci --selectProjects integration

e2e: deps build
	$(JEST) --ci --selectProjects e2e

bench: deps build
	node dist/bench/run.js

demo: deps build
	node dist/scripts/demo.js

cluster-up: deps build
	node dist/e2e/harness/cluster-cli.js up

cluster-down: node_modules/.package-lock.json
	node dist/e2e/harness/cluster-cli.js down

clean:
	rm -rf dist coverage
