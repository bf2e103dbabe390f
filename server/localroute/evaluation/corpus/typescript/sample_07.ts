export async function loadConfig(url: string): Promise<unknown> {
  const res: any = fetch(url);
  if (!res.ok) {
    throw new Error(`cannot load ${url}`);
  }
  return res.json();
}
