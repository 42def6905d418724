# A thin layer over CMake: the two commands of the README (make run, make
# test) and the maintainers' extras. Every target installs what it needs.
BUILD      ?= build
TEST_BUILD ?= build-test
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
VAULT      ?= examples/vault
FUZZ_SECONDS ?= 60
# The test build: sanitizers, one malloc per arena allocation (so ASan sees
# overruns inside a note), the allocation-failure hook, tests on.
TEST_FLAGS = -DCMAKE_BUILD_TYPE=Debug -DQP_SANITIZE=ON -DQP_ARENA_DEBUG=ON -DQP_ALLOC_HOOK=ON \
             -DBUILD_TESTING=ON
# Every C file in the repository, tests and benchmarks included: what lint
# checks and format rewrites (a new file counts once git knows it).
C_SOURCES = $(shell git ls-files -- '*.c' '*.h')
PREFIX     ?= /usr/local
DEB_BUILD  ?= build-deb

.PHONY: all deps build run install uninstall deb test fuzz bench soak memcheck tsan lint format clean

all: build

deps:
	@contrib/install-deps build

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Starts quipud in the foreground on the bundled example vault. Builds only
# quipud and quipu (what the README's quick start runs), quietly: the build's
# output is shown only when it fails.
run: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target quipud quipu-cli >$(BUILD)/run-build.log 2>&1 \
	    || { cat $(BUILD)/run-build.log; exit 1; }
	@exec $(BUILD)/quipud $(VAULT)

# Installs into PREFIX (default /usr/local), under DESTDIR when given; the
# list of installed files is $(BUILD)/install_manifest.txt, which uninstall reads.
install: build
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

uninstall:
	@DESTDIR="$(DESTDIR)" cmake -DMANIFEST=$(CURDIR)/$(BUILD)/install_manifest.txt \
	    -P cmake/QpUninstall.cmake

# The Debian package (CPack), from a release build for /usr: $(DEB_BUILD)/quipu_*.deb.
deb:
	@contrib/install-deps deb
	@cmake -S . -B $(DEB_BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
	    -DBUILD_TESTING=OFF >/dev/null
	@cmake --build $(DEB_BUILD) -j $(JOBS)
	@cd $(DEB_BUILD) && cpack -G DEB

# Every test, built with AddressSanitizer + UndefinedBehaviorSanitizer.
test:
	@contrib/install-deps test
	@cmake -S . -B $(TEST_BUILD) $(TEST_FLAGS) >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# libFuzzer targets (clang), each run for FUZZ_SECONDS on a scratch copy of its corpus.
fuzz:
	@contrib/install-deps test
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DQP_SANITIZE=ON -DQP_FUZZ=ON -DBUILD_TESTING=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@for t in $(FUZZ_BUILD)/test/fuzz_*; do \
	    n=$${t##*/fuzz_}; w=$(FUZZ_BUILD)/corpus/$$n; mkdir -p $$w; \
	    echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	    $$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_BUILD)/ $$w test/fuzz/corpus/$$n || exit 1; \
	done

bench:
	@contrib/install-deps bench
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	python3 test/bench/bench.py --build $(BUILD)

soak:
	@contrib/install-deps test
	@cmake -S . -B $(TEST_BUILD) $(TEST_FLAGS) >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	QP_SOAK_SECONDS=600 QUIPUD=$(TEST_BUILD)/quipud QUIPU=$(TEST_BUILD)/quipu \
	    QP_SOURCE_DIR=$(CURDIR) python3 test/integration/test_soak.py

memcheck:
	@contrib/install-deps test
	@cmake -S . -B build-memcheck -DCMAKE_BUILD_TYPE=Debug -DQP_VALGRIND=ON -DBUILD_TESTING=ON >/dev/null
	@cmake --build build-memcheck -j $(JOBS)
	cd build-memcheck && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# The daemon's threads under ThreadSanitizer (cannot be combined with ASan).
tsan:
	@contrib/install-deps test
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DQP_TSAN=ON -DBUILD_TESTING=ON >/dev/null
	@cmake --build build-tsan -j $(JOBS) --target quipud quipu-cli
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/daemon/tsan.supp" \
	  QUIPUD=build-tsan/quipud QUIPU=build-tsan/quipu QP_SOURCE_DIR=$(CURDIR) \
	  sh -c 'python3 test/integration/test_daemon.py && python3 test/integration/test_daemon_watch.py'

lint:
	clang-format --dry-run -Werror $(C_SOURCES)

format:
	clang-format -i $(C_SOURCES)

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD) $(DEB_BUILD) build-memcheck build-tsan
