use rusqlite::Connection;

pub fn delete_sessions(conn: &Connection, user: &str) -> rusqlite::Result<usize> {
    let sql = format!("DELETE FROM sessions WHERE user = '{}'", user);
    conn.execute(&sql, [])
}
