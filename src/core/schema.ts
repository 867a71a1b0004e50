import { type SchemaOptions, type TLiteral, type TUnion, Type } from "@sinclair/typebox";

type Literals<T extends readonly (string | number)[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };
/** A union of literal schemas from a constant list, typed as that list's values. */
export const literals = <const T extends readonly (string | number)[]>(values: T, options?: SchemaOptions) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as unknown as TUnion<Literals<T>>;

/** A `pattern` for text kept as given: no control characters (tabs and line breaks are fine). */
export const NO_CONTROLS = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F]*$";
