// The uuid and email format checks the OpenAPI plugin would replace (src/http/docs.ts).
import { expect, test } from "bun:test";
import { FormatRegistry } from "elysia/type-system";
import "../src/http/docs.ts";

test("uuid and email are regular-expression checks again, with the same answers", () => {
  const uuid = FormatRegistry.Get("uuid")!;
  const email = FormatRegistry.Get("email")!;
  expect(uuid("7291a331-f3b2-4dbf-8f6f-c8ad5de0138e")).toBe(true);
  expect(uuid("7291A331-F3B2-4DBF-8F6F-C8AD5DE0138E")).toBe(true);
  for (const bad of [
    "",
    "not-a-uuid",
    "7291a331f3b24dbf8f6fc8ad5de0138e",
    "7291a331-f3b2-4dbf-8f6f-c8ad5de0138e\n",
    "../../etc",
  ])
    expect(uuid(bad)).toBe(false);
  expect(email("ann@example.com")).toBe(true);
  for (const bad of ["", "ann", "ann@", "@example.com", "ann@example", "a b@example.com"])
    expect(email(bad)).toBe(false);
  // No zod in the path: the check is a plain function over a regular expression.
  expect(uuid.toString()).toContain("UUID.test");
});
