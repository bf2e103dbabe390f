export function averageScore(scores: number[]): number {
  const sum = scores.reduce((a, b) => a + b, 0);
  return sum / scores.length;
}
