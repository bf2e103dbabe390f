import sqlite3


def find_user(conn: sqlite3.Connection, name: str):
    """The id and e-mail of the user called name, or None."""
    row = conn.execute("SELECT id, email FROM users WHERE name = ?", (name,)).fetchone()
    return row
