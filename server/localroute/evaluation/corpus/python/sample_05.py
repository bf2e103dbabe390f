def find_user(conn, name):
    cursor = conn.cursor()
    cursor.execute(f"SELECT id, email FROM users WHERE name = '{name}'")
    return cursor.fetchone()
