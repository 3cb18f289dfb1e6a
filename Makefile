# The two commands of the quick start, and a few more.
#   make demo   install deps, build, start PostgreSQL + the allocator (local provider)
#   make test   install deps, build with ASan+UBSan and -Werror, run every test
#               (the fuzzers too: 30-60 s each, or LABLINK_FUZZ_SECONDS)
#   make fuzz   the libFuzzer targets of tests/fuzz with clang (build-fuzz/)
#   make install [PREFIX=/usr/local] [DESTDIR=] [NO_BUILD=1 BUILD=dir]
#               programs, systemd units, terraform modules, Caddy files,
#               example config and docs (packaging/install); NO_BUILD=1
#               installs what BUILD already holds without building
.PHONY: all build deps demo test test-build checksrc clean lambda install fuzz

BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc)
PREFIX     ?= /usr/local
DESTDIR    ?=
FUZZ_BUILD ?= build-fuzz
# Optional package groups `make test` needs (scripts/install-deps): caddy
# for the TLS test, chromium for the browser tests, clang for the fuzzers.
TEST_DEPS  ?= tls browser fuzz

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
	    -DLABLINK_WERROR=ON -DLABLINK_FUZZ_BUILD=$(abspath $(FUZZ_BUILD)) >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS) -- --no-print-directory
	@$(MAKE) --no-print-directory fuzz

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
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD)

# --- fuzz (issue 10) ---------------------------------------------------------
# The libFuzzer targets (tests/fuzz/fuzz_*.c) and the product libraries they
# use, built by clang with -fsanitize=fuzzer-no-link,address,undefined in
# their own tree; the gcc builds never need clang. Run one by hand:
#   build-fuzz/fuzz/fuzz_crd -max_total_time=600 tests/fuzz/corpus/crd
fuzz:
	@LABLINK_DEPS=fuzz scripts/install-deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang \
	    -DCMAKE_BUILD_TYPE=Debug -DLABLINK_FUZZ=ON -DLABLINK_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target lablink-fuzzers \
	    -- --no-print-directory
