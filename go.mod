module imapfs

go 1.26

require (
	bazil.org/fuse v0.0.0-20230120002735-62a210ff1fd5
	github.com/hashicorp/golang-lru/v2 v2.0.7
	github.com/spf13/pflag v1.1.0
)

require golang.org/x/sys v0.4.0
