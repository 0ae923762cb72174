import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { Reply } from '@pushflow/shared';
import { HttpProblem } from './problems.ts';
import { DispatcherTimeoutError, DispatcherUnavailableError } from './rpc.ts';

/**
 * Turns what the dispatcher answered (or failed to) into a result or an HTTP problem. The
 * result is checked against its schema: a dispatcher of another version must not make the
 * gateway send something its OpenAPI document does not promise.
 */
export function dispatcherAnswer<T extends TSchema>(schema: T) {
  const resultOf = replyResult(schema);
  return async function answer(call: Promise<Reply>): Promise<Static<T>> {
    return resultOf(await replied(call));
  };
}

/**
 * The same for a request answered with many replies (a batch): every result, in order, or
 * the problem the first refused one maps to, exactly as it would alone.
 */
export function dispatcherAnswers<T extends TSchema>(schema: T) {
  const resultOf = replyResult(schema);
  return async function answers(call: Promise<Reply[]>): Promise<Static<T>[]> {
    return (await replied(call)).map(resultOf);
  };
}

async function replied<R>(call: Promise<R>): Promise<R> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof DispatcherTimeoutError) throw new HttpProblem('dispatcher-timeout', err.message);
    if (err instanceof DispatcherUnavailableError) {
      throw new HttpProblem('dispatcher-unavailable', 'The notification queue is unavailable; retry later');
    }
    throw err;
  }
}

function replyResult<T extends TSchema>(schema: T) {
  const check: TypeCheck<T> = TypeCompiler.Compile(schema);
  return function resultOf(reply: Reply): Static<T> {
    if (!reply.ok) {
      switch (reply.error.code) {
        case 'NOT_FOUND':
          throw new HttpProblem('not-found', reply.error.message);
        case 'IDEMPOTENCY_KEY_REUSED':
          throw new HttpProblem(
            'idempotency-key-reused',
            'This Idempotency-Key was already used with a different body; use a new key for a new notification',
          );
        case 'NOTIFICATION_REFUSED':
          throw new HttpProblem('notification-refused', reply.error.message);
        case 'WEBHOOK_URL_REFUSED':
          throw new HttpProblem('webhook-url-refused', reply.error.message, {
            errors: [{ path: '/body/url', message: reply.error.message }],
          });
        case 'INTERNAL':
          // The dispatcher could not finish (its database is down, say): worth a retry.
          throw new HttpProblem('dispatcher-unavailable', 'The dispatcher could not complete the request; retry later');
        default:
          throw new Error(`dispatcher rejected the request: ${reply.error.code} ${reply.error.message}`);
      }
    }
    if (!check.Check(reply.result)) {
      const first = check.Errors(reply.result).First();
      throw new Error(`dispatcher reply does not match its schema: ${first?.path} ${first?.message}`);
    }
    return reply.result;
  };
}
