// TCP echo server in Go: one goroutine per connection, blocking reads and
// writes — the same loop as bench/plain/echo.rs (read up to 1,024 bytes,
// write them all back, until EOF or an error).
//
// Usage: echo ADDR (default 127.0.0.1:7000). The benchmark harness builds
// it with `go build` into target/release/go-echo when `go` is on PATH.
package main

import (
	"fmt"
	"net"
	"os"
)

func handle(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 1024)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			// Write returns an error unless all n bytes were written.
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	addr := "127.0.0.1:7000"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "accept:", err)
			continue
		}
		go handle(conn)
	}
}
