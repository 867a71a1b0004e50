import { validation } from "../core/errors.ts";

/** Letters (any script), digits, marks and `_ . -`; TypeBox patterns cannot express \p{L}. */
export const USERNAME_CHARS = /^[\p{L}\p{N}\p{M}_.-]+$/u;

export function checkUsername(username: string) {
  if (!USERNAME_CHARS.test(username)) {
    throw validation([{ path: "/username", message: "may contain only letters, digits, marks and _ . -" }]);
  }
}
