import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import '../domain/formats.ts';

/**
 * Stream entries carry messages as JSON, in one of two fields:
 *
 * - `batch`: a JSON array of messages. Every writer appends one entry per batch per
 *   destination stream (docs/design.md, "Batched entries"), so a hop costs one XADD, one
 *   parse and one system call per batch instead of per message, as in Kafka's record batches.
 * - `data`: one message, the format before batches. Still read everywhere, so an old
 *   ledger and a rolling upgrade (old writers beside new readers) keep working.
 *
 * Decoding validates each message against a compiled schema: a malformed message is
 * reported on its own, and the good messages beside it in the same entry still decode.
 */
export const DATA_FIELD = 'data';
export const BATCH_FIELD = 'batch';

/** One message per entry: the format before batches (still used by tests and old writers). */
export function encodeEntry(value: unknown): [string, string] {
  return [DATA_FIELD, JSON.stringify(value)];
}

/** Many messages in one entry, in order. */
export function encodeBatch(values: readonly unknown[]): [string, string] {
  return [BATCH_FIELD, JSON.stringify(values)];
}

/**
 * `batch` (the default) or `single`: how this process's writers append (PUSHFLOW_ENTRY_FORMAT).
 * `single` writes the format before batches, one message per entry, which services older than
 * batches can read: a rolling upgrade runs the new services with it until no old one is left
 * (docs/design.md, "Batched entries"). Set once, at start, from the validated config.
 */
export type EntryFormat = 'batch' | 'single';
let writeFormat: EntryFormat = 'batch';
export function useEntryFormat(format: EntryFormat): void {
  writeFormat = format;
}

/** The entries that carry these messages, in order: one batch, or one entry each in `single`. */
export function entriesOf(values: readonly unknown[]): [string, string][] {
  if (values.length === 0) return [];
  return writeFormat === 'batch' ? [encodeBatch(values)] : values.map(encodeEntry);
}

/** What one entry held: its good messages in order, and the raw values that failed the schema. */
export interface Decoded<T> {
  items: T[];
  /** Each a value as parsed (or the raw text when the entry is not JSON at all), for the dead-letter stream. */
  malformed: unknown[];
}

export interface EntryCodec<T extends TSchema> {
  /** Every message of an entry of either format. */
  decodeAll(fields: string[]): Decoded<Static<T>>;
  /** The good messages only: for readers that skip what they cannot read (views, tests). */
  items(fields: string[]): Static<T>[];
  /** The entry's message when it holds exactly one good message and nothing else. */
  decode(fields: string[]): Static<T> | undefined;
  /** One value, already parsed: true when it is a good message. */
  check(value: unknown): value is Static<T>;
}

/** `refine` checks what a JSON schema cannot say; a value it refuses decodes as malformed. */
export function entryCodec<T extends TSchema>(schema: T, refine?: (value: Static<T>) => boolean): EntryCodec<T> {
  const compiled = TypeCompiler.Compile(schema);
  const check = (value: unknown): value is Static<T> => compiled.Check(value) && (refine === undefined || refine(value));
  const decodeAll = (fields: string[]): Decoded<Static<T>> => {
    const out: Decoded<Static<T>> = { items: [], malformed: [] };
    const batch = fieldValue(fields, BATCH_FIELD);
    const raw = batch ?? fieldValue(fields, DATA_FIELD);
    if (raw === undefined) {
      out.malformed.push(Object.fromEntries(pairs(fields)));
      return out;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      out.malformed.push(raw);
      return out;
    }
    const values = batch === undefined ? [parsed] : Array.isArray(parsed) ? parsed : undefined;
    if (values === undefined) {
      out.malformed.push(parsed);
      return out;
    }
    for (const value of values) (check(value) ? out.items : out.malformed).push(value);
    return out;
  };
  return {
    decodeAll,
    check,
    items: (fields) => decodeAll(fields).items,
    decode(fields) {
      const { items, malformed } = decodeAll(fields);
      return items.length === 1 && malformed.length === 0 ? items[0] : undefined;
    },
  };
}

/** Stream entries come back from Redis as a flat [field, value, field, value] list. */
export function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function pairs(fields: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) out.push([fields[i]!, fields[i + 1]!]);
  return out;
}
