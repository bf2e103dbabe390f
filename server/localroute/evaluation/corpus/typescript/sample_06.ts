export function isMissing(value: number | undefined): boolean {
  if (value === undefined) {
    return true;
  }
  return value === NaN;
}
