import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { recipientIdSchema, signConnectToken } from '@pushflow/shared';
import { problemResponse } from '../problems.ts';

export const DEFAULT_TOKEN_TTL_SECONDS = 3600;

export interface ConnectTokenOptions {
  secret: string;
  /** PUSHFLOW_CONNECT_SECRET_ID: put in each token's header as `kid`, so nodes pick the secret. */
  secretId?: string;
  maxTtlSeconds: number;
  recipientIdLength: number;
  /** Set: every token carries it as `aud`, and delivery nodes configured with it accept only those. */
  audience?: string;
}

/**
 * Short-lived tokens a client presents to the delivery service's WebSocket. The gateway
 * signs them so an application that would rather not hold the connect secret can ask for one.
 */
export const connectTokenRoutes: FastifyPluginAsyncTypebox<ConnectTokenOptions> = async (
  app,
  { secret, secretId, maxTtlSeconds, recipientIdLength, audience },
) => {
  const Body = Type.Object(
    {
      recipientId: recipientIdSchema(recipientIdLength),
      ttlSeconds: Type.Optional(
        Type.Integer({
          minimum: 1,
          maximum: maxTtlSeconds,
          default: Math.min(DEFAULT_TOKEN_TTL_SECONDS, maxTtlSeconds),
          description: 'Lifetime of the token in seconds',
        }),
      ),
    },
    { additionalProperties: false },
  );

  app.post(
    '/connect-tokens',
    {
      schema: {
        operationId: 'createConnectToken',
        summary: 'Sign a WebSocket connect token for a recipient',
        tags: ['connect tokens'],
        body: Body,
        response: {
          201: Type.Object(
            {
              token: Type.String({ description: 'HS256 JWT; pass it as ?token= when connecting to /ws' }),
              expiresAt: Type.String({ format: 'date-time' }),
            },
            { description: 'The signed token' },
          ),
          400: problemResponse('The request is not valid'),
          401: problemResponse('Missing or invalid API key'),
          413: problemResponse('The body is over PUSHFLOW_HTTP_BODY_LIMIT_BYTES'),
          415: problemResponse('The body is not application/json'),
        },
      },
    },
    async (request, reply) => {
      const { recipientId, ttlSeconds = DEFAULT_TOKEN_TTL_SECONDS } = request.body;
      const iat = Math.floor(Date.now() / 1000);
      const exp = iat + ttlSeconds;
      const token = await signConnectToken(
        { sub: recipientId, iat, exp, ...(audience === undefined ? {} : { aud: audience }) },
        secret,
        secretId,
      );
      return reply.code(201).send({ token, expiresAt: new Date(exp * 1000).toISOString() });
    },
  );
};
