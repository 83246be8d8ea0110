# imapfs — see README.md.
GO ?= go

PREFIX ?= /usr/local

.PHONY: build install test setup vet clean demo bench bench-rtt bench-scale fuzz

build:
	$(GO) build -o imapfs .

# Into $(PREFIX)/bin, where mount.fuse3 (fstab, mount -t fuse.imapfs)
# looks for it, with the man page.
install: build
	install -D -m 0755 imapfs $(DESTDIR)$(PREFIX)/bin/imapfs
	install -D -m 0644 docs/imapfs.1 $(DESTDIR)$(PREFIX)/share/man/man1/imapfs.1

# Everything the tests need is installed by test/setup (idempotent, quick
# when done); then vet, formatting and the whole suite with the race
# detector, integration tests against real servers and real mounts included.
# Tests that mostly wait (for timeouts, stalls, servers of their own) run
# four at a time.
test: setup vet
	$(GO) test -race -parallel 4 -timeout 20m ./...

setup:
	test/setup

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

# The README's "try it": a private Dovecot with generated mail, mounted at
# ./mail until Ctrl-C. Like the tests it needs root (FUSE and the server).
# Built and run rather than "go run", which exits with status 1 after a
# Ctrl-C however cleanly the demo stopped. DEMO_FLAGS="-mountpoint DIR"
# mounts elsewhere.
demo:
	test/setup demo
	$(GO) build -o imapfs-demo ./test/demo
	./imapfs-demo $(DEMO_FLAGS)

# The read-path benchmark (docs/performance.md): about 3 minutes, as root.
bench: setup
	$(GO) test -run '^$$' -bench ReadPath -benchtime 1x -timeout 30m ./test/bench/readpath/

# Tools and mbsync on a server 50 ms away (docs/performance.md, "50 ms
# round trip"): as root; RTT_ROUNDS rounds (default 1) of several minutes.
bench-rtt: setup
	$(GO) test -run '^$$' -bench RTT -benchtime 1x -timeout 120m ./test/bench/rtt/

# A mailbox of 100,000 small messages and an account of 1,000 mailboxes
# on loopback (docs/performance.md, "Scale"): as root, about 10 minutes.
bench-scale: setup
	$(GO) test -run '^$$' -bench Scale -benchtime 1x -timeout 60m ./test/bench/scale/

# Fuzz the whole client against arbitrary server bytes (docs/testing.md).
FUZZTIME ?= 10m
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzClient$$' -fuzztime $(FUZZTIME) ./imapclient/

clean:
	rm -f imapfs imapfs-demo
