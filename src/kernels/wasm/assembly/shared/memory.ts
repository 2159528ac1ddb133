// Laying out a kernel's linear memory once, in init(): buffers at 64-byte
// boundaries after the static data, and memory grown to hold them.

/** p rounded up to a multiple of 64 bytes. */
// @ts-ignore: decorator
@inline
export function align64(p: usize): usize {
  return (p + 63) & ~(<usize>63);
}

/** Memory grown (never shrunk) to reach byte `end`: 0 on success, 2 when it cannot grow. */
export function reserve(end: usize): i32 {
  const pages = <i32>((end + 65535) >> 16);
  const have = memory.size();
  if (pages > have && memory.grow(pages - have) < 0) return 2;
  return 0;
}
