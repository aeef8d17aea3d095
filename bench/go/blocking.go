// The hand-off benchmark's job in Go (bench/plain/blocking.rs,
// syscall_1ms): 1,000 goroutines each make one blocking system call of
// 1 ms (a raw nanosleep: the runtime hands the P of a thread in a system
// call to another thread). Prints `syscall_1ms MILLISECONDS`.
//
//go:build ignore

package main

import (
	"fmt"
	"sync"
	"syscall"
	"time"
)

func main() {
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts := syscall.Timespec{Sec: 0, Nsec: 1000000}
			syscall.Nanosleep(&ts, nil)
		}()
	}
	wg.Wait()
	fmt.Printf("syscall_1ms %.1f\n", float64(time.Since(t0).Microseconds())/1e3)
}
