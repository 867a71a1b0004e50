import { describe, expect, test } from "bun:test";
import { createLru } from "../src/core/lru.ts";

describe("LRU", () => {
  test("keeps at most its capacity, forgetting the least recently used entry first", () => {
    const lru = createLru<string, number>(2);
    lru.set("a", 1);
    lru.set("b", 2);
    // Reading "a" makes "b" the oldest use: the next entry evicts it.
    expect(lru.get("a")).toBe(1);
    lru.set("c", 3);
    expect(lru.size).toBe(2);
    expect(lru.get("b")).toBeUndefined();
    expect(lru.get("a")).toBe(1);
    expect(lru.get("c")).toBe(3);
  });

  test("setting a known key replaces its value without evicting another", () => {
    const lru = createLru<string, number>(2);
    lru.set("a", 1);
    lru.set("b", 2);
    lru.set("a", 10);
    expect(lru.size).toBe(2);
    expect(lru.get("a")).toBe(10);
    expect(lru.get("b")).toBe(2);
  });

  test("a capacity below one is refused", () => {
    expect(() => createLru(0)).toThrow(RangeError);
    expect(() => createLru(1.5)).toThrow(RangeError);
  });
});
