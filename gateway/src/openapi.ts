import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import { problemType, problemTypes } from './problems.ts';

/** The OpenAPI document's frame; paths and schemas come from the route schemas. */
export function openapiOptions(version: string): FastifyDynamicSwaggerOptions {
  const problemList = Object.entries(problemTypes)
    .map(([slug, { status, title }]) => `- \`${problemType(slug as keyof typeof problemTypes)}\` (${status}): ${title}`)
    .join('\n');
  return {
    // Shared schemas keep their $id as their name in components.schemas ("Problem", not "def-0").
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    openapi: {
      // 3.1 because the schemas use JSON Schema 2020-12 (const, patternProperties).
      openapi: '3.1.0',
      info: {
        title: 'PushFlow API',
        version,
        description:
          'Send real-time push notifications and follow what became of each one.\n\n' +
          'Errors are `application/problem+json` (RFC 9457); their `type` is one of:\n\n' +
          problemList,
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'One of the keys in PUSHFLOW_API_KEYS' },
        },
      },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'notifications', description: 'Send notifications and read their status' },
        { name: 'connect tokens', description: 'Tokens for the WebSocket connection' },
        { name: 'webhooks', description: 'Endpoints told what became of each notification, as signed Standard Webhooks messages' },
        { name: 'health', description: 'Liveness and readiness probes' },
        { name: 'dashboard', description: 'What the /dashboard page shows: the recent ledger, consumer groups, delivery nodes' },
      ],
    },
  };
}
