package text

import "strings"

func WordCount(s string) map[string]int {
	var counts map[string]int
	for _, w := range strings.Fields(s) {
		counts[w]++
	}
	return counts
}
