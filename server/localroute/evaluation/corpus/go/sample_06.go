package store

import "database/sql"

func UserName(db *sql.DB, id string) (string, error) {
	var name string
	err := db.QueryRow("SELECT name FROM users WHERE id = " + id).Scan(&name)
	return name, err
}
