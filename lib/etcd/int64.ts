/**
 * An int64 of a request (a revision), as the cheapest form etcd3's encoder takes: a number while
 * it is exact, else its decimal string. The encoder parses a string digit by digit into a `Long`,
 * once per field of every request.
 */
export function int64(value: bigint): number | string {
  return value <= MAX_EXACT ? Number(value) : value.toString();
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);
