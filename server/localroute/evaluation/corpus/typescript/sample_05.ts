import { Pool } from "pg";

export async function ordersOf(pool: Pool, customerId: string) {
  const result = await pool.query(`SELECT * FROM orders WHERE customer = '${customerId}'`);
  return result.rows;
}
