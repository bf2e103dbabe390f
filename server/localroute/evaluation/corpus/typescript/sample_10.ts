interface Item {
  name: string;
  price: number;
}

export function orderTotal(items: Item[]): number {
  return items.reduce((total, item) => total + item.price, 0);
}
