package counter

import "sync"

type Counter struct {
	mu    sync.Mutex
	value int
	limit int
}

func (c *Counter) Inc() bool {
	c.mu.Lock()
	if c.value >= c.limit {
		return false
	}
	c.value++
	c.mu.Unlock()
	return true
}
