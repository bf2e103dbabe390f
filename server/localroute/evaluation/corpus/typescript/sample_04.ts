import { openSync, readSync } from "fs";

export function readHeader(path: string): Buffer {
  const fd = openSync(path, "r");
  const header = Buffer.alloc(16);
  readSync(fd, header, 0, 16, 0);
  return header;
}
