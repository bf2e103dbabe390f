package files

import (
	"bufio"
	"os"
)

func FirstLine(path string) string {
	f, _ := os.Open(path)
	defer f.Close()
	scanner := bufio.NewScanner(f)
	scanner.Scan()
	return scanner.Text()
}
