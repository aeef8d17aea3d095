// The scale program of bench/plain/scale.rs in Go: goroutines parked on one
// sync.Cond. `scale condvar N` / `scale deep N`; one line of key=value pairs.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func rssKiB() float64 { return statusKiB("VmRSS:") }

// statusKiB reads a kB field of /proc/self/status (VmPTE: page tables,
// which RSS does not count).
func statusKiB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		panic(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field) {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	panic("no " + field)
}

//go:noinline
func deep(seed byte) byte {
	var buf [64 * 1024]byte
	for i := 0; i < len(buf); i += 512 {
		buf[i] = seed + byte(i)
	}
	var s byte
	for i := 0; i < len(buf); i += 512 {
		s += buf[i]
	}
	return s
}

var sink int32

func main() {
	mode := "condvar"
	n := 100000
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[2])
	}
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	open := false
	var waiting int64
	var wg sync.WaitGroup
	deepFirst := mode == "deep"
	runtime.GC()
	rss0, pte0 := rssKiB(), statusKiB("VmPTE:")
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if deepFirst {
				atomic.AddInt32(&sink, int32(deep(byte(i))))
			}
			mu.Lock()
			atomic.AddInt64(&waiting, 1)
			for !open {
				cond.Wait()
			}
			mu.Unlock()
		}(i)
	}
	spawn := time.Since(start).Seconds()
	for atomic.LoadInt64(&waiting) < int64(n) {
		time.Sleep(5 * time.Millisecond)
	}
	parked := time.Since(start).Seconds()
	per := func(r float64) float64 { return (r - rss0) / float64(n) }
	line := fmt.Sprintf("mode=%s n=%d spawn_s=%.3f all_waiting_s=%.3f rss_kib_per=%.2f pte_kib_per=%.2f", mode, n, spawn, parked, per(rssKiB()), (statusKiB("VmPTE:")-pte0)/float64(n))
	if deepFirst {
		t0 := time.Now()
		for _, at := range []float64{0.5, 1.0, 2.0} {
			left := time.Duration(at*float64(time.Second)) - time.Since(t0)
			if left > 0 {
				time.Sleep(left)
			}
			line += fmt.Sprintf(" rss_kib_per_after_%gs=%.2f", at, per(rssKiB()))
		}
	}
	start = time.Now()
	mu.Lock()
	open = true
	cond.Broadcast()
	mu.Unlock()
	wg.Wait()
	line += fmt.Sprintf(" join_s=%.3f", time.Since(start).Seconds())
	fmt.Println(line)
}
