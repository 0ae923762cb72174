import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * Fastify's request lines, through its logController option (the top-level
 * `disableRequestLogging` is deprecated, FSTDEP023). Fastify's own are two info lines per
 * request, which cost the gateway more CPU than the request itself at a few thousand a
 * second (profiled: pino and redaction were a third of its time), so by default they are
 * written at debug only; /metrics counts every request anyway. PUSHFLOW_ACCESS_LOG=true
 * writes one info line per request instead: method, URL (tokens redacted), status, time.
 */
class AccessLog extends LogController {
  private readonly completedLevel: 'info' | 'debug';
  constructor(completedLevel: 'info' | 'debug') {
    super();
    this.completedLevel = completedLevel;
  }

  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(_error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    // A failure is logged by the error handler (app.ts), with its error, once.
    request.log[this.completedLevel]({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

export function accessLog(enabled: boolean): LogController {
  return new AccessLog(enabled ? 'info' : 'debug');
}
