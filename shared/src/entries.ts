import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import './formats.ts';

/**
 * Every stream entry holds one field, `data`, with the message as JSON: readable in
 * `XRANGE`, and one parse per entry. Decoding validates against a compiled schema so a
 * malformed entry is reported instead of crashing a consumer.
 */
export const DATA_FIELD = 'data';

export function encodeEntry(value: unknown): [string, string] {
  return [DATA_FIELD, JSON.stringify(value)];
}

export interface EntryCodec<T extends TSchema> {
  decode(fields: string[]): Static<T> | undefined;
}

/** `refine` checks what a JSON schema cannot say; a value it refuses decodes as malformed. */
export function entryCodec<T extends TSchema>(schema: T, refine?: (value: Static<T>) => boolean): EntryCodec<T> {
  const check = TypeCompiler.Compile(schema);
  return {
    decode(fields) {
      const raw = fieldValue(fields, DATA_FIELD);
      if (raw === undefined) return undefined;
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        return undefined;
      }
      if (!check.Check(parsed)) return undefined;
      return refine === undefined || refine(parsed) ? parsed : undefined;
    },
  };
}

/** Stream entries come back from Redis as a flat [field, value, field, value] list. */
export function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
