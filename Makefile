# criu-notify: `make` builds everything (CRIU too, when no working one is
# installed) and runs the demo; `make test` runs every test against the real
# CRIU binary.

SHELL        := /bin/bash
CARGO        ?= cargo
PREFIX       ?= /usr
DESTDIR      ?=
PLUGIN_NAME  := notify_plugin.so
PLUGIN       := plugins/$(PLUGIN_NAME)
CACHE        := .cache
CRIU_PATH    := $(CACHE)/criu-path
# The provisioned CRIU source tree (crit, zdtm, the base of the ext build):
# .cache/criu-4.2.x by default, whatever version provision-criu.sh built.
CRIU_TREE_PATH := $(CACHE)/criu-tree
SOURCES      := $(shell find src proto criu-headers -type f) Cargo.toml build.rs
# The criu-dev snapshot (test-criu-dev): beside the repo, also in CI.
CRIU_DEV_SRC ?= $(CURDIR)/../shared/criu-src

export CRIU_NOTIFY_TOP := $(CURDIR)

.PHONY: all deps criu criu-tree criu-ext plugin test-plugin lint demo test unit integration zdtm bench fuzz \
        install uninstall deb test-deb test-containers test-programs test-criu-4.1 test-criu-dev clean

all: criu plugin demo

# A working CRIU >= 4.1 (the one on PATH, else CRIU 4.2.x built from Debian's
# source package of sid, forky or trixie-backports) plus the Debian packages
# the build and tests need. Re-run when provision-criu.sh changes; a second
# run is a no-op. Every `make criu` (and `make`) warns when that CRIU is
# 4.1.x and this kernel keeps 4.1.x from dumping TCP/UDP sockets.
criu: $(CRIU_PATH)
	@bash test/scripts/provision-criu.sh --check "$$(cat $(CRIU_PATH))"
$(CRIU_PATH): test/scripts/provision-criu.sh
	@mkdir -p $(CACHE)
	@CRIU_NOTIFY_CHECK=0 bash test/scripts/provision-criu.sh > $@.tmp && mv $@.tmp $@
	@echo "criu: $$(cat $@)"

# The CRIU source tree the tests need (zdtm, crit): the one $(CRIU_PATH)
# was built in, or, when that criu came from PATH, a CRIU 4.2 built for them.
criu-tree: $(CRIU_TREE_PATH)
$(CRIU_TREE_PATH): test/scripts/provision-criu.sh | $(CRIU_PATH)
	@bash test/scripts/provision-criu.sh --tree > $@.tmp && mv $@.tmp $@
	@echo "criu tree: $$(cat $@)"

deps: criu

$(PLUGIN): $(SOURCES) | $(CRIU_PATH)
	$(CARGO) build --release --lib
	@mkdir -p plugins
	cp target/release/libcriu_notify.so $@.tmp && mv $@.tmp $@

plugin: $(PLUGIN)

demo: $(PLUGIN)
	@bash test/scripts/demo.sh

# The integration tests' plugin: the release plugin plus test-only fault
# injection (feature fault-injection), built in a target dir of its own.
TEST_PLUGIN_DIR := test/out/plugin-faults
TEST_PLUGIN     := $(TEST_PLUGIN_DIR)/$(PLUGIN_NAME)
$(TEST_PLUGIN): $(SOURCES) | $(CRIU_PATH)
	$(CARGO) build --release --lib --features fault-injection --target-dir target/fault-injection
	@mkdir -p $(TEST_PLUGIN_DIR)
	cp target/fault-injection/release/libcriu_notify.so $@.tmp && mv $@.tmp $@
test-plugin: $(TEST_PLUGIN)

# Lints, style and clippy, and that the release plugin carries no fault
# injection; then unit tests (pure logic and real syscalls), the
# integration tests that drive the real criu binary, CRIU's own zdtm tests
# with the plugin, runc/podman, the Debian package, real programs, and the
# integration tests again against CRIU 4.1.x.
test: lint unit integration zdtm test-containers test-deb test-programs test-criu-4.1

lint: $(PLUGIN)
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) clippy --release --all-targets --features fault-injection -- -D warnings
	@if grep -q -a -e 'CRIU_NOTIFY_FAULT' -e 'fault injected' $(PLUGIN); then \
		echo "lint: $(PLUGIN) contains test-only fault injection"; exit 1; fi

unit:
	$(CARGO) test --release --lib --test fuzz_regressions

# A test-only CRIU that hands inotify/epoll fds to DUMP_EXT_FILE (a copy of
# the provisioned tree with two lines of criu/files.c changed; ~3 s once
# the tree is built) for test/integration/ext_hook.rs.
CRIU_EXT_PATH := $(CACHE)/criu-ext-path
criu-ext: $(CRIU_EXT_PATH)
$(CRIU_EXT_PATH): test/scripts/provision-criu-ext.sh $(CRIU_TREE_PATH)
	@CRIU_EXT_BASE="$$(cat $(CRIU_TREE_PATH))" bash test/scripts/provision-criu-ext.sh > $@.tmp && mv $@.tmp $@
	@echo "criu-ext: $$(cat $@)"

# CRIU=, CRIU_EXT= (and CRIU_TREE= for crit) run it against another CRIU.
integration: $(TEST_PLUGIN) $(if $(CRIU_EXT),,$(CRIU_EXT_PATH))
	CRIU="$${CRIU:-$$(cat $(CRIU_PATH))}" CRIU_NOTIFY_PLUGIN_DIR="$(CURDIR)/$(TEST_PLUGIN_DIR)" \
		CRIU_EXT="$${CRIU_EXT:-$$(cat $(CRIU_EXT_PATH))}" \
		$(CARGO) test --release --test criu -- --test-threads=1

# zdtm runs from a CRIU tree (its own criu); CRIU_TREE= picks another.
# zdtm.sh: CRIU's inotify/epoll tests, owned by the plugin; zdtm-sample.sh:
# ~50 tests without inotify/epoll, without and with the plugin (both run).
zdtm: $(PLUGIN) $(if $(CRIU_TREE),,$(CRIU_TREE_PATH))
	@tree="$${CRIU_TREE:-$$(cat $(CRIU_TREE_PATH))}"; rc=0; \
	CRIU_TREE="$$tree" bash test/scripts/zdtm.sh || rc=1; \
	CRIU="$$tree/criu/criu" bash test/scripts/zdtm-sample.sh || rc=1; exit $$rc

# The integration suite against CRIU 4.1.x (Debian trixie's source package,
# built into .cache/criu-4.1.x) and its ext build: about a minute once
# built, a few more to build it. The last step of `make test`.
test-criu-4.1: $(PLUGIN)
	@tree=$$(CRIU_WANT=4.1 bash test/scripts/provision-criu.sh --tree | tail -1) && \
	ext=$$(CRIU_EXT_BASE="$$tree" bash test/scripts/provision-criu-ext.sh | tail -1) && \
	echo "test-criu-4.1: CRIU $$tree/criu/criu, ext $$ext" && \
	CRIU="$$tree/criu/criu" CRIU_EXT="$$ext" CRIU_TREE="$$tree" $(MAKE) --no-print-directory integration

# CRIU's development branch, from the snapshot in $(CRIU_DEV_SRC), built
# into .cache/criu-dev (and its ext build): the integration suite, then
# zdtm's inotify/epoll/fanotify tests from that tree. Both always run.
test-criu-dev: $(PLUGIN)
	@tree=$$(CRIU_WANT=dev CRIU_DEV_SRC="$(CRIU_DEV_SRC)" bash test/scripts/provision-criu.sh --tree | tail -1) && \
	ext=$$(CRIU_EXT_BASE="$$tree" bash test/scripts/provision-criu-ext.sh | tail -1) && \
	echo "test-criu-dev: CRIU $$tree/criu/criu, ext $$ext" && rc=0 && \
	{ CRIU="$$tree/criu/criu" CRIU_EXT="$$ext" CRIU_TREE="$$tree" \
		$(MAKE) --no-print-directory integration || rc=1; } && \
	{ CRIU_TREE="$$tree" bash test/scripts/zdtm.sh || rc=1; } && \
	exit $$rc

bench: $(PLUGIN)
	@bash test/scripts/bench.sh

fuzz:
	@bash test/scripts/fuzz.sh $(FUZZ_SECONDS)

test-containers: $(PLUGIN) $(if $(CRIU_TREE),,$(CRIU_TREE_PATH))
	@CRIU_TREE="$${CRIU_TREE:-$$(cat $(CRIU_TREE_PATH))}" bash test/scripts/containers.sh

# nginx, redis, inotifywait, python3-watchdog and node checkpointed and
# restored with the plugin (installs them with apt-get when missing).
test-programs: $(PLUGIN)
	@bash test/scripts/programs.sh

install: $(PLUGIN)
	install -D -m 0755 $(PLUGIN) $(DESTDIR)$(PREFIX)/lib/criu/$(PLUGIN_NAME)

# The Debian package criu-notify (target/debian/criu-notify_<version>_<arch>.deb)
# and its test: apt-get install, plain criu loads it, purge leaves nothing.
deb: $(PLUGIN) README.md test/scripts/deb.sh
	@bash test/scripts/deb.sh build >/dev/null

test-deb: deb | $(CRIU_PATH)
	@bash test/scripts/deb.sh test

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/criu/$(PLUGIN_NAME)
	-rmdir $(DESTDIR)$(PREFIX)/lib/criu 2>/dev/null || true

clean:
	$(CARGO) clean
	rm -rf plugins test/out
