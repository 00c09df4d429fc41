# make bench   Fulcrum side by side with nginx, HAProxy and Caddy (docs/performance.md);
#              make bench BENCH_QUICK=1 for one short round, BENCH_PROFILE=1 for Fulcrum profiles
# make test    every test (installs what the tests need, as root)
# make run     Fulcrum on its embedded demo config

.PHONY: bench test run

bench:
	BENCH_QUICK="$(BENCH_QUICK)" BENCH_PROFILE="$(BENCH_PROFILE)" BENCH_ARGS="$(BENCH_ARGS)" ./bench/run.sh

test:
	./scripts/test.sh

run:
	go run ./cmd/fulcrum run
