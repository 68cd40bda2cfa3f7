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
# Where the provisioned CRIU source tree lives (zdtm, crit).
CRIU_TREE    := $(CACHE)/criu-4.1.1
SOURCES      := $(shell find src proto criu-headers -type f) Cargo.toml build.rs

export CRIU_NOTIFY_TOP := $(CURDIR)

.PHONY: all deps criu criu-ext plugin demo test unit integration zdtm bench fuzz \
        install uninstall test-containers test-programs clean

all: plugin demo

# CRIU >= 4.1 (built from Debian trixie's source package when the machine
# has none that works) plus the Debian packages the build and tests need.
# Re-run when $(CRIU) changes; a second run is a no-op.
criu: $(CRIU_PATH)
$(CRIU_PATH): test/scripts/provision-criu.sh
	@mkdir -p $(CACHE)
	@bash test/scripts/provision-criu.sh > $@.tmp && mv $@.tmp $@
	@echo "criu: $$(cat $@)"

deps: criu

$(PLUGIN): $(SOURCES) | $(CRIU_PATH)
	$(CARGO) build --release --lib
	@mkdir -p plugins
	cp target/release/libcriu_notify.so $@.tmp && mv $@.tmp $@

plugin: $(PLUGIN)

demo: $(PLUGIN)
	@bash test/scripts/demo.sh

# Unit tests (pure logic and real syscalls), then the integration tests that
# drive the real criu binary, then CRIU's own zdtm tests with the plugin.
test: unit integration zdtm test-containers test-programs

unit: $(CRIU_PATH)
	$(CARGO) test --release --lib --test fuzz_regressions

# A test-only CRIU that hands inotify/epoll fds to DUMP_EXT_FILE (a copy of
# the provisioned tree with two lines of criu/files.c changed; ~3 s once
# the tree is built) for test/integration/ext_hook.rs.
CRIU_EXT_PATH := $(CACHE)/criu-ext-path
criu-ext: $(CRIU_EXT_PATH)
$(CRIU_EXT_PATH): test/scripts/provision-criu-ext.sh | $(CRIU_PATH)
	@bash test/scripts/provision-criu-ext.sh > $@.tmp && mv $@.tmp $@
	@echo "criu-ext: $$(cat $@)"

integration: $(PLUGIN) $(CRIU_EXT_PATH)
	CRIU="$${CRIU:-$$(cat $(CRIU_PATH))}" CRIU_NOTIFY_PLUGIN_DIR="$(CURDIR)/plugins" \
		CRIU_EXT="$${CRIU_EXT:-$$(cat $(CRIU_EXT_PATH))}" \
		$(CARGO) test --release --test criu -- --test-threads=1

# zdtm.sh: CRIU's inotify/epoll tests, owned by the plugin; zdtm-sample.sh:
# ~50 tests without inotify/epoll, without and with the plugin (both run).
zdtm: $(PLUGIN)
	@rc=0; bash test/scripts/zdtm.sh || rc=1; bash test/scripts/zdtm-sample.sh || rc=1; exit $$rc

bench: $(PLUGIN)
	@bash test/scripts/bench.sh

fuzz:
	@bash test/scripts/fuzz.sh $(FUZZ_SECONDS)

test-containers: $(PLUGIN)
	@bash test/scripts/containers.sh

# nginx, redis, inotifywait, python3-watchdog and node checkpointed and
# restored with the plugin (installs them with apt-get when missing).
test-programs: $(PLUGIN)
	@bash test/scripts/programs.sh

install: $(PLUGIN)
	install -D -m 0755 $(PLUGIN) $(DESTDIR)$(PREFIX)/lib/criu/$(PLUGIN_NAME)

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/criu/$(PLUGIN_NAME)
	-rmdir $(DESTDIR)$(PREFIX)/lib/criu 2>/dev/null || true

clean:
	$(CARGO) clean
	rm -rf plugins test/out
