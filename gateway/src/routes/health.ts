import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { pingWithin, type RedisClient } from '@pushflow/shared';
import { HttpProblem, problemResponse } from '../problems.ts';

export const READY_PING_TIMEOUT_MS = 500;

/** Liveness says the process answers; readiness says it can reach Redis, so it can take work. */
export const healthRoutes: FastifyPluginAsyncTypebox<{ redis: RedisClient }> = async (app, { redis }) => {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness',
        tags: ['health'],
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ok') }, { description: 'The process answers' }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: Redis answers',
        tags: ['health'],
        security: [],
        response: {
          200: Type.Object({ status: Type.Literal('ready') }, { description: 'Redis answers: requests can be taken' }),
          503: problemResponse('Redis does not answer'),
        },
      },
    },
    async () => {
      if (!(await pingWithin(redis, READY_PING_TIMEOUT_MS))) throw new HttpProblem('not-ready', 'Redis does not answer');
      return { status: 'ready' as const };
    },
  );
};
