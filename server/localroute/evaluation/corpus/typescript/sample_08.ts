export function removeItem<T>(list: T[], item: T): T[] {
  const index = list.indexOf(item);
  list.splice(index, 1);
  return list;
}
