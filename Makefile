# The two commands of the quick start, and a few more.
#   make demo   install deps, build, start PostgreSQL + the allocator (local provider)
#   make test   install deps, build with ASan+UBSan and -Werror, run every test
#   make install [PREFIX=/usr/local] [DESTDIR=] [NO_BUILD=1 BUILD=dir]
#               programs, systemd units, terraform modules, Caddy files,
#               example config and docs (packaging/install); NO_BUILD=1
#               installs what BUILD already holds without building
.PHONY: all build deps demo test test-build checksrc clean lambda install

BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc)
PREFIX     ?= /usr/local
DESTDIR    ?=
# Optional package groups `make test` needs (scripts/install-deps): caddy
# for the TLS test.
TEST_DEPS  ?= tls browser

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLABLINK_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

demo: build
	@scripts/demo $(BUILD)

test-build:
	@LABLINK_DEPS="$(strip $(LABLINK_DEPS) $(TEST_DEPS))" scripts/install-deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLABLINK_SANITIZE=ON \
	    -DLABLINK_WERROR=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS) -- --no-print-directory

checksrc:
	@scripts/checksrc

test: test-build checksrc
	@cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# lablink-lambda packaged for AWS Lambda (provided.al2023): bootstrap plus
# the shared libraries it needs in lib/ (on Lambda's LD_LIBRARY_PATH)
lambda: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLABLINK_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target lablink-lambda -- --no-print-directory
	@lambda/package $(BUILD)/lablink-lambda $(BUILD)/lablink-lambda.zip

install: $(if $(NO_BUILD),,build)
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX)
	@PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" BUILD="$(BUILD)" packaging/install

clean:
	rm -rf $(BUILD) $(TEST_BUILD)

# --- faults (issue 10): only the fault-injection tests (tests/faults) -------
.PHONY: test-faults
test-faults: test-build
	@cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --output-on-failure -j $(JOBS) -L faults $(CTEST_ARGS)
