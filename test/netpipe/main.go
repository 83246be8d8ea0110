// Command netpipe connects its standard input and output to a TCP
// address: an imapfs --tunnel command for tests, reaching a server that
// listens on loopback.
//
//	netpipe 127.0.0.1:1143
package main

import (
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: netpipe HOST:PORT")
		os.Exit(2)
	}
	conn, err := net.Dial("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "netpipe:", err)
		os.Exit(1)
	}
	go func() {
		io.Copy(conn, os.Stdin)
		// EOF on stdin: the client is done; let the server see it.
		conn.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(os.Stdout, conn)
}
