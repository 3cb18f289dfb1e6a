# The two commands of the quick start, and a few more.
#   make demo   install deps, build, start PostgreSQL + the allocator (local provider)
#   make test   install deps, build with ASan+UBSan and -Werror, run every test
#               (the fuzzers too: 30-60 s each, or LABLINK_FUZZ_SECONDS)
#   make fuzz   the libFuzzer targets of tests/fuzz with clang (build-fuzz/)
#   make deb    the lablink-allocator and lablink-agent .deb packages in
#               $(BUILD)/deb (packaging/deb/build)
#   make install [PREFIX=/usr/local] [DESTDIR=] [NO_BUILD=1 BUILD=dir]
#               programs, systemd units, terraform modules, Caddy files,
#               example config and docs (packaging/install); NO_BUILD=1
#               installs what BUILD already holds without building
.PHONY: all build deps demo test test-build checksrc clean lambda install fuzz deb

BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc)
PREFIX     ?= /usr/local
DESTDIR    ?=
FUZZ_BUILD ?= build-fuzz
# Optional package groups `make test` needs (scripts/install-deps): caddy
# for the TLS test, chromium for the browser tests, clang for the fuzzers,
# ops for the operators' tools (promtool, systemd, dpkg-dev, jsonschema),
# s3rver/dynalite (npm) and shellcheck for the AWS path's tests.
TEST_DEPS  ?= tls browser fuzz ops aws

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLABLINK_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

# NO_BUILD=1: run what BUILD already holds (the demo test does)
demo: $(if $(NO_BUILD),,build)
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

deb: build
	@LABLINK_DEPS=deb scripts/install-deps
	@packaging/deb/build $(BUILD) $(BUILD)/deb

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

# ---- tsan/valgrind (issue 10): thread safety and memory proof ------------
# make test-tsan      ThreadSanitizer build in build-tsan/ (gcc, -O1), then
#                     the unit, actor and integration tests under it; any
#                     report fails the run (halt_on_error, and every report
#                     file under build-tsan/tsan-reports/ is printed).
# make test-valgrind  the actor tests (no sanitizer, build-valgrind/) under
#                     memcheck: invalid accesses and definite leaks fail.
# Both are separate from `make test`; docs/testing.md says what they cover.
.PHONY: test-tsan test-valgrind
TSAN_BUILD     ?= build-tsan
VALGRIND_BUILD ?= build-valgrind
# Left out of the TSan run (docs/testing.md): the browser tests (Chromium
# takes minutes against a TSan allocator; the routes behind the pages are
# driven by the integration tests), the offline `terraform plan` of the aws
# modules (no threads of ours), the packaging test (install layout) and the
# Caddy TLS test (Caddy in front of an allocator the others cover). The
# fault-injection tests (faults/) arrived at the deadline and were not run
# under TSan yet: they kill PostgreSQL and the allocator on tight clocks.
# The package and demo tests (issue 20) check install layouts and a shell
# script's terminal handling, not threads of ours.
TSAN_EXCLUDE   ?= faults/|browser/|integration/test_infra_plan$$|integration/test_packaging$$|integration/test_caddy_tls$$|integration/test_terraform_aws$$|integration/test_deb$$|integration/test_demo$$
TSAN_JOBS      ?= 1

test-tsan:
	@scripts/install-deps
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug \
	    -DCMAKE_C_FLAGS="-O1 -fsanitize=thread -fno-omit-frame-pointer" \
	    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" -DLABLINK_TSAN=ON >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS) -- --no-print-directory
	@scripts/test-tsan $(TSAN_BUILD) -j $(TSAN_JOBS) -E '$(TSAN_EXCLUDE)' $(CTEST_ARGS)

test-valgrind:
	@LABLINK_DEPS="$(strip $(LABLINK_DEPS) valgrind)" scripts/install-deps
	@cmake -S . -B $(VALGRIND_BUILD) -DCMAKE_BUILD_TYPE=Debug \
	    -DLABLINK_VALGRIND=ON >/dev/null
	@cmake --build $(VALGRIND_BUILD) -j $(JOBS) --target lablink_valgrind_tests \
	    -- --no-print-directory
	@scripts/test-valgrind $(VALGRIND_BUILD) $(CTEST_ARGS)

# --- faults (issue 10): only the fault-injection tests (tests/faults) -------
.PHONY: test-faults
test-faults: test-build
	@cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --output-on-failure -j $(JOBS) -L faults $(CTEST_ARGS)
