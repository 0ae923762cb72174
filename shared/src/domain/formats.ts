import { FormatRegistry } from '@sinclair/typebox';

/**
 * TypeBox's own checker rejects string formats it does not know; Fastify's ajv knows
 * them. Registering the ones our schemas use keeps the stream codecs and the HTTP layer
 * in agreement.
 */
const isoDateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => isoDateTime.test(v) && !Number.isNaN(Date.parse(v)));
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => uuid.test(v));
