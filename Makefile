# The two commands of the quick start, and a few more.
#   make demo   install deps, build, start PostgreSQL + the allocator (local provider)
#   make test   install deps, build with ASan+UBSan and -Werror, run every test
.PHONY: all build deps test-deps demo test test-build checksrc clean lambda install

BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc)
PREFIX     ?= /usr/local

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLABLINK_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

demo: build
	@scripts/demo $(BUILD)

test-build: test-deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLABLINK_SANITIZE=ON \
	    -DLABLINK_WERROR=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS) -- --no-print-directory

# The tests also drive headless chromium (tests/browser)
test-deps:
	@LABLINK_DEPS="$(strip $(LABLINK_DEPS) browser)" scripts/install-deps

checksrc:
	@scripts/checksrc

test: test-build checksrc
	@cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
