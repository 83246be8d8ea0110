# imapfs — see README.md.
GO ?= go

.PHONY: build test setup vet clean demo bench

build:
	$(GO) build -o imapfs .

# Everything the tests need is installed by test/setup (idempotent, quick
# when done); then vet, formatting and the whole suite with the race
# detector, integration tests against real servers and real mounts included.
test: setup vet
	$(GO) test -race -timeout 20m ./...

setup:
	test/setup

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

# The README's "try it": a private Dovecot with generated mail, mounted at
# ./mail until Ctrl-C. Like the tests it needs root (FUSE and the server).
demo: setup
	$(GO) run ./test/demo

# The read-path benchmark (docs/performance.md): about 3 minutes, as root.
bench: setup
	$(GO) test -run '^$$' -bench ReadPath -benchtime 1x -timeout 30m ./test/bench/readpath/

clean:
	rm -f imapfs
