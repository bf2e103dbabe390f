package store

import "os"

func Save(path string, data []byte) error {
	err := os.WriteFile(path, data, 0o600)
	if err == nil {
		return err
	}
	return nil
}
