package policy

import (
	"runtime"
	"sync"
)

// forEachIndex calls f(i) for every i in [0, n) on every core and returns
// when all calls have. Callers write results into slices by index, so their
// order never depends on scheduling.
func forEachIndex(n int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
