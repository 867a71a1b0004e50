/** A map of at most `capacity` entries: a new entry beyond that evicts the least recently used one. */
export interface Lru<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): void;
  /** Drops every entry `drop` says yes to. */
  deleteWhere(drop: (value: V, key: K) => boolean): void;
  clear(): void;
  readonly size: number;
  readonly capacity: number;
}

export function createLru<K, V>(capacity: number): Lru<K, V> {
  if (!Number.isInteger(capacity) || capacity < 1)
    throw new RangeError(`an LRU holds at least 1 entry, not ${capacity}`);
  // A Map iterates in insertion order: re-inserting on every hit keeps the oldest use first.
  const entries = new Map<K, V>();
  return {
    capacity,
    get size() {
      return entries.size;
    },
    get(key) {
      if (!entries.has(key)) return undefined;
      const value = entries.get(key) as V;
      entries.delete(key);
      entries.set(key, value);
      return value;
    },
    delete(key) {
      entries.delete(key);
    },
    deleteWhere(drop) {
      for (const [key, value] of entries) if (drop(value, key)) entries.delete(key);
    },
    clear() {
      entries.clear();
    },
    set(key, value) {
      entries.delete(key);
      entries.set(key, value);
      if (entries.size > capacity) entries.delete(entries.keys().next().value as K);
    },
  };
}
