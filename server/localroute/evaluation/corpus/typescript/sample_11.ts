interface User {
  id: number;
  name: string;
}

export function userName(users: User[], id: number): string | undefined {
  const user = users.find((u) => u.id === id);
  return user?.name;
}
