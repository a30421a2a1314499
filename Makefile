# greenserve -- see README.md.  `make test` is all a fresh Debian 12 machine needs.

CC       ?= gcc
SANITIZE ?= 0
PREFIX   ?= /usr/local

ifeq ($(SANITIZE),1)
BUILD    := build-san
OPT      := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
SANFLAGS := -fsanitize=address,undefined
else ifeq ($(SANITIZE),fuzz)
# `make fuzz`: clang, every object instrumented for libFuzzer's coverage.
CC       := clang
BUILD    := build-fuzz
OPT      := -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
            -fno-sanitize-recover=undefined
SANFLAGS := -fsanitize=address,undefined
else
BUILD    := build
OPT      := -O2
SANFLAGS :=
endif

LLHTTP_SRC := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers
CFLAGS   += -std=gnu11 -g $(OPT) $(WARN) -D_GNU_SOURCE -fPIC -Iinclude -I. -I$(LLHTTP_INC)
LDLIBS   += -levent_pthreads -levent -lboost_context -linih -lhiredis -lpthread -ldl -lm
LDFLAGS  += $(SANFLAGS)

# Debian packages needed to build and test; `make deps` installs the missing ones.
DEPS := build-essential pkg-config libevent-dev libboost-context-dev node-llhttp \
        libcriterion-dev libinih-dev libhiredis-dev valgrind curl python3 \
        redis-server nginx-light wrk gunicorn python3-eventlet liburing-dev

RUNTIME_SRC := $(wildcard runtime/*.c runtime/*.S)
HTTP_SRC    := $(wildcard http/*.c)
CONFIG_SRC  := $(wildcard config/*.c)
SERVER_SRC  := $(filter-out server/main.c,$(wildcard server/*.c))
LIB_SRC     := $(RUNTIME_SRC) $(HTTP_SRC) $(CONFIG_SRC) $(SERVER_SRC)
LIB_OBJ     := $(patsubst %.S,$(BUILD)/obj/%.o,$(LIB_SRC:%.c=$(BUILD)/obj/%.o))
LLHTTP_OBJ  := $(BUILD)/obj/llhttp/llhttp.o $(BUILD)/obj/llhttp/api.o $(BUILD)/obj/llhttp/http.o
LIB         := $(BUILD)/libgreenserve.a

APPS        := $(patsubst apps/%.c,$(BUILD)/apps/%.so,$(wildcard apps/*.c))
TEST_PLUGINS := $(patsubst tests/plugins/%.c,$(BUILD)/tests/plugins/%.so,$(wildcard tests/plugins/*.c))
TEST_SRC    := $(wildcard tests/*/test_*.c)
TEST_BIN    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_HELPER := $(wildcard tests/support/*.c)
BENCH_SRC   := $(wildcard bench/*.c)
BENCH_BIN   := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
BIN         := $(if $(wildcard server/main.c),$(BUILD)/greenserve)

.PHONY: all programs deps test valgrind run bench-runtime bench-http clean format format-check install

all: deps programs

# What is installed; no package check (debian/rules builds this).
programs: $(BIN) $(APPS)

deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	    | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing missing packages:" $$missing; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

# llhttp is generated C shipped by node-llhttp; compile it in place, quietly.
$(BUILD)/obj/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g $(OPT) -fPIC -I$(LLHTTP_INC) -c $< -o $@

$(LIB): $(LIB_OBJ) $(LLHTTP_OBJ)
	@rm -f $@
	ar rcs $@ $^

# -rdynamic: plugins resolve the gs_* API against the executable.
$(BIN): $(BUILD)/obj/server/main.o $(LIB)
	$(CC) $(LDFLAGS) -rdynamic -o $@ $< -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)

$(BUILD)/apps/%.so: apps/%.c include/greenserve.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O2 $(WARN) -fPIC -shared -Iinclude $(APP_INC) $< -o $@

# apps/chat.so embeds its page: apps/chat.html as a C array in a header
# made here (od and sed), so the .so works wherever it is installed.
$(BUILD)/apps/chat.so: APP_INC := -I$(BUILD)/gen
$(BUILD)/apps/chat.so: $(BUILD)/gen/chat_html.h
$(BUILD)/gen/chat_html.h: apps/chat.html
	@mkdir -p $(dir $@)
	{ echo 'static const char chat_html[] = {'; od -An -v -tx1 $< | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0};'; } > $@.tmp && mv $@.tmp $@

$(BUILD)/tests/plugins/%.so: tests/plugins/%.c include/greenserve.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O2 -Wall -Wextra -fPIC -shared -Iinclude $< -o $@

$(BUILD)/tests/%: tests/%.c $(TEST_HELPER) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $(LDFLAGS) -rdynamic -o $@ $< $(TEST_HELPER) \
	    -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive -lcriterion $(LDLIBS)

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/http/reading.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# The io_uring floor (bench-http.sh) is plain C on liburing, not on us.
$(BUILD)/bench/uring_floor: bench/uring_floor.c bench/floor.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O2 -Wall -Wextra -Werror -D_GNU_SOURCE $< -o $@ -luring

$(BUILD)/bench/http_floor: bench/floor.h

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -rdynamic -o $@ $< \
	    -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)

# Every test binary runs; the first failure fails the target after all ran.
test: all $(TEST_BIN) $(TEST_PLUGINS)
	@GS_BUILD=$(BUILD) tests/run-tests $(TEST_BIN)

# The chat page in a browser: headless Chromium (a Debian package, kept
# out of DEPS) driven by playwright-core (npm, into tests/e2e/node_modules).
E2E_DEPS := chromium

# libFuzzer on the request parser (tests/fuzz/fuzz_http.c) for FUZZ_TIME
# seconds, from tests/fuzz/seeds and what earlier runs learnt
# (build-fuzz/corpus); a failing input is left in build-fuzz/.
FUZZ_TIME ?= 60

.PHONY: fuzz
fuzz:
	@$(MAKE) --no-print-directory deps DEPS=clang
	@$(MAKE) --no-print-directory SANITIZE=fuzz build-fuzz/fuzz/fuzz_http
	@mkdir -p build-fuzz/corpus
	build-fuzz/fuzz/fuzz_http -max_total_time=$(FUZZ_TIME) -max_len=4096 \
	    -artifact_prefix=build-fuzz/ build-fuzz/corpus tests/fuzz/seeds

.PHONY: test-e2e
test-e2e: all
	@$(MAKE) --no-print-directory deps DEPS="$(E2E_DEPS)"
	@command -v npm >/dev/null || { echo "test-e2e: needs node and npm"; exit 1; }
	cd tests/e2e && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund; }
	GS_BUILD=$(BUILD) node tests/e2e/chat.test.mjs

valgrind: all $(TEST_BIN) $(TEST_PLUGINS)
	@GS_BUILD=$(BUILD) GS_VALGRIND=1 tests/run-tests $(filter $(BUILD)/tests/runtime/%,$(TEST_BIN))

# The example apps, each at /NAME; the access log on the terminal.
run: all
	@echo "greenserve on http://127.0.0.1:8080/  (Ctrl-C stops it)"
	@for a in $(APPS); do n=$$(basename $$a .so); echo "  http://127.0.0.1:8080/$$n/"; done
	$(BIN) --bind 127.0.0.1:8080 --access-log - $(foreach a,$(APPS),/$(basename $(notdir $(a)))=$(a))

bench-runtime: all $(BUILD)/bench/bench_runtime
	$(BUILD)/bench/bench_runtime

.PHONY: bench-greenlibc
bench-greenlibc: all $(BUILD)/bench/bench_greenlibc
	$(BUILD)/bench/bench_greenlibc

bench-http: all $(BENCH_BIN)
	bench/bench-http.sh $(BUILD)

.PHONY: bench-ir
bench-ir: all
	bench/bench-ir.sh $(BUILD)

.PHONY: bench-comet
bench-comet: all $(BUILD)/bench/comet_client $(BUILD)/bench/send_floor
	bench/bench-comet.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz

# `make install PREFIX=/usr DESTDIR=/tmp/stage`: the executable, the
# header and greenserve.pc for plugins, the example apps, the man page,
# the systemd units and the annotated config (its app paths rewritten to
# where the apps go), as SYSCONFDIR/greenserve/greenserve.ini: /etc for
# PREFIX=/usr, PREFIX/etc otherwise (autoconf's rule, so /usr/local/etc).
# An existing config is never overwritten, and uninstall removes it only
# while it is unchanged.
BINDIR  := $(PREFIX)/bin
INCDIR  := $(PREFIX)/include
LIBDIR  := $(PREFIX)/lib
APPDIR  := $(LIBDIR)/greenserve/apps
PCDIR   := $(LIBDIR)/pkgconfig
MANDIR  := $(PREFIX)/share/man/man1
DOCDIR  := $(PREFIX)/share/doc/greenserve
UNITDIR := $(LIBDIR)/systemd/system
SYSCONFDIR := $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
CONFDIR := $(SYSCONFDIR)/greenserve
VERSION  = $(shell sed -n 's/^\#define CFG_VERSION *"\(.*\)"/\1/p' config/options.h)
ABI      = $(shell sed -n 's/^\#define GS_ABI_VERSION *//p' include/greenserve.h)

.PHONY: uninstall
install: $(BIN) $(APPS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(APPDIR) \
	    $(DESTDIR)$(PCDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(DOCDIR)
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/greenserve
	install -m 644 include/greenserve.h $(DESTDIR)$(INCDIR)/greenserve.h
	install -m 755 $(APPS) $(DESTDIR)$(APPDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@ABI_VERSION@|$(ABI)|' \
	    packaging/greenserve.pc.in > $(DESTDIR)$(PCDIR)/greenserve.pc
	chmod 644 $(DESTDIR)$(PCDIR)/greenserve.pc
	install -m 644 packaging/greenserve.1 $(DESTDIR)$(MANDIR)/greenserve.1
	sed 's|/usr/lib/greenserve/apps|$(APPDIR)|' packaging/greenserve.ini > $(BUILD)/greenserve.ini
	install -m 644 $(BUILD)/greenserve.ini $(DESTDIR)$(DOCDIR)/greenserve.ini
	install -d $(DESTDIR)$(CONFDIR)
	if [ -e $(DESTDIR)$(CONFDIR)/greenserve.ini ]; then \
	    echo "$(DESTDIR)$(CONFDIR)/greenserve.ini exists: kept (the new example is in $(DOCDIR))"; \
	else install -m 644 $(BUILD)/greenserve.ini $(DESTDIR)$(CONFDIR)/greenserve.ini; fi
	install -d $(DESTDIR)$(UNITDIR)
	for u in greenserve.service greenserve.socket; do \
	    sed -e 's|/usr/bin/greenserve|$(BINDIR)/greenserve|' \
	        -e 's|/etc/greenserve/greenserve.ini|$(CONFDIR)/greenserve.ini|' \
	        packaging/$$u > $(DESTDIR)$(UNITDIR)/$$u && \
	    chmod 644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; done

uninstall:
	@mkdir -p $(BUILD)
	sed 's|/usr/lib/greenserve/apps|$(APPDIR)|' packaging/greenserve.ini > $(BUILD)/greenserve.ini
	if cmp -s $(BUILD)/greenserve.ini $(DESTDIR)$(CONFDIR)/greenserve.ini; then \
	    rm -f $(DESTDIR)$(CONFDIR)/greenserve.ini; rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null || true; \
	elif [ -e $(DESTDIR)$(CONFDIR)/greenserve.ini ]; then \
	    echo "$(DESTDIR)$(CONFDIR)/greenserve.ini was edited: kept"; fi
	rm -f $(DESTDIR)$(BINDIR)/greenserve $(DESTDIR)$(INCDIR)/greenserve.h \
	    $(DESTDIR)$(PCDIR)/greenserve.pc $(DESTDIR)$(MANDIR)/greenserve.1 \
	    $(DESTDIR)$(DOCDIR)/greenserve.ini $(DESTDIR)$(UNITDIR)/greenserve.service \
	    $(DESTDIR)$(UNITDIR)/greenserve.socket \
	    $(patsubst $(BUILD)/apps/%,$(DESTDIR)$(APPDIR)/%,$(APPS))
	-rmdir $(DESTDIR)$(APPDIR) $(DESTDIR)$(LIBDIR)/greenserve $(DESTDIR)$(DOCDIR) 2>/dev/null

# The README's tutorial, run as written (tests/readme/run.sh says how).
.PHONY: test-readme
test-readme: all
	tests/readme/run.sh

# The Debian package, built by dpkg-buildpackage (debian/) from a copy of
# the tree in $(BUILD)/deb, so that its clean step cannot touch build/.
DEB_DEPS := debhelper dpkg-dev fakeroot adduser

.PHONY: deb test-deb
deb:
	@$(MAKE) --no-print-directory deps DEPS="$(DEB_DEPS) $(DEPS)"
	packaging/build-deb.sh $(BUILD)

# Install the .deb on this machine, serve with it, purge it (root only).
test-deb:
	packaging/test-deb.sh $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
