// Timer lateness under load in Go: bench/plain/lateness.rs with
// goroutines — an echo server, 100 goroutines sleeping 10 ms in a loop
// (time.Sleep) and 100 goroutines reading with a 10 ms deadline
// (SetReadDeadline) from connections that never send.
//
// Usage: lateness ADDR [SECONDS]. bench/lateness.sh builds it into
// target/release/go-lateness.
package main

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"time"
)

const probes = 100
const tick = 10 * time.Millisecond
const warmup = 1500 * time.Millisecond

func handle(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 1024)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func probe(from, until time.Time, wait func(), out chan<- []time.Duration) {
	var late []time.Duration
	for {
		t := time.Now()
		if !t.Before(until) {
			out <- late
			return
		}
		wait()
		if !t.Before(from) {
			d := time.Since(t) - tick
			if d < 0 {
				d = 0
			}
			late = append(late, d)
		}
	}
}

func report(what string, v []time.Duration) {
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	pct := func(p int) float64 { return float64(v[(len(v)-1)*p/100]) / 1e6 }
	fmt.Printf("%s: n=%d p50=%.2fms p99=%.2fms max=%.2fms\n", what, len(v), pct(50), pct(99), pct(100))
}

func main() {
	addr := "127.0.0.1:7000"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	secs := 3
	if len(os.Args) > 2 {
		secs, _ = strconv.Atoi(os.Args[2])
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				continue
			}
			go handle(conn)
		}
	}()
	start := time.Now()
	from, until := start.Add(warmup), start.Add(warmup+time.Duration(secs)*time.Second)
	sleeps := make(chan []time.Duration, probes)
	for i := 0; i < probes; i++ {
		go probe(from, until, func() { time.Sleep(tick) }, sleeps)
	}
	silent, _ := net.Listen("tcp", "127.0.0.1:0")
	var clients []net.Conn
	reads := make(chan []time.Duration, probes)
	for i := 0; i < probes; i++ {
		c, err := net.Dial("tcp", silent.Addr().String())
		if err != nil {
			panic(err)
		}
		clients = append(clients, c)
		s, _ := silent.Accept()
		go probe(from, until, func() {
			buf := make([]byte, 16)
			s.SetReadDeadline(time.Now().Add(tick))
			if _, err := s.Read(buf); err == nil {
				panic("a silent connection sent data")
			}
		}, reads)
	}
	var all, allReads []time.Duration
	for i := 0; i < probes; i++ {
		all = append(all, <-sleeps...)
		allReads = append(allReads, <-reads...)
	}
	for _, c := range clients {
		c.Close()
	}
	report("sleep(10 ms) lateness", all)
	report("read timeout (10 ms) lateness", allReads)
	// Serves on until killed: the load outlasts the probes.
	select {}
}
