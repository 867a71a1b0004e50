import { type SchemaOptions, type TLiteral, type TUnion, Type } from "@sinclair/typebox";

type Literals<T extends readonly (string | number)[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };
/** A union of literal schemas from a constant list, typed as that list's values. */
export const literals = <const T extends readonly (string | number)[]>(values: T, options?: SchemaOptions) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as unknown as TUnion<Literals<T>>;
