export function progressLabel(done: number, total: number): string {
  const percent = Math.round((done / total) * 100);
  return `${percent}% (${done}/${total})`;
}
