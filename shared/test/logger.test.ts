import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, redactUrl } from '../src/observability/logger.ts';

const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl';
const KEY = 'an-api-key-0123456789abcdef';

function capture() {
  const lines: string[] = [];
  const log = createLogger('test', 'debug', {
    write: (s: string) => {
      lines.push(s);
    },
  });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, any>) };
}

describe('logger redaction', () => {
  it('redactUrl replaces token values in a query string and nothing else', () => {
    assert.equal(redactUrl(`/ws?token=${TOKEN}`), '/ws?token=[redacted]');
    assert.equal(redactUrl(`/ws?a=1&token=${TOKEN}&b=2#f`), '/ws?a=1&token=[redacted]&b=2#f');
    assert.equal(redactUrl(`/ws?TOKEN=${TOKEN}&access_token=${TOKEN}`), '/ws?TOKEN=[redacted]&access_token=[redacted]');
    assert.equal(redactUrl('/notifications?tokens=1&mytoken=2'), '/notifications?tokens=1&mytoken=2');
    assert.equal(redactUrl('/ws'), '/ws');
  });

  it('keeps tokens out of logged request URLs, url fields, messages and errors', () => {
    const { log, lines, parsed } = capture();
    log.info(
      { req: { method: 'GET', url: `/ws?token=${TOKEN}`, headers: { host: 'h', authorization: `Bearer ${KEY}` } } },
      'incoming request',
    );
    log.info({ url: `/ws?x=1&token=${TOKEN}` }, 'upgrade');
    log.warn(`refused /ws?token=${TOKEN}`);
    log.error({ err: new Error(`Route GET:/ws?token=${TOKEN} not found`) }, 'failed');
    log.child({ reqId: 'r1' }).info({ req: { method: 'GET', url: `/ws?token=${TOKEN}` } }, 'child');
    assert.equal(lines.length, 5);
    for (const line of lines) {
      assert.ok(!line.includes(TOKEN), line);
      assert.ok(!line.includes(KEY), line);
    }
    const [req, url, msg, err, child] = parsed();
    assert.equal(req!.req.url, '/ws?token=[redacted]');
    assert.equal(req!.req.method, 'GET');
    assert.equal(req!.req.headers, undefined, 'request headers are never logged');
    assert.equal(url!.url, '/ws?x=1&token=[redacted]');
    assert.equal(msg!.msg, 'refused /ws?token=[redacted]');
    assert.match(err!.err.message, /token=\[redacted\]/);
    assert.equal(child!.req.url, '/ws?token=[redacted]');
  });

  it('censors secrets by property name', () => {
    const { log, lines, parsed } = capture();
    log.info(
      {
        token: TOKEN,
        secret: 's3cret-value-xyz',
        authorization: `Bearer ${KEY}`,
        headers: { authorization: `Bearer ${KEY}` },
        config: { PUSHFLOW_API_KEYS: KEY, apiKeys: [KEY] },
      },
      'everything',
    );
    assert.ok(!lines[0]!.includes(TOKEN) && !lines[0]!.includes(KEY) && !lines[0]!.includes('s3cret'), lines[0]);
    const [entry] = parsed();
    assert.equal(entry!.token, '[redacted]');
    assert.equal(entry!.headers.authorization, '[redacted]');
    assert.equal(entry!.config.PUSHFLOW_API_KEYS, '[redacted]');
    assert.equal(entry!.service, 'test');
  });
});
