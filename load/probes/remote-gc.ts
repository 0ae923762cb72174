import WebSocket from 'ws';

/**
 * Runs a full garbage collection in another Node process through its inspector
 * (HeapProfiler.collectGarbage), then reads its JS heap in use (Runtime.getHeapUsage).
 * A freshly started service carries tens of MB of startup garbage that V8 drops some 15 s
 * later, whenever it gets round to it; collecting before each sample keeps that drop out
 * of "memory per connection". Resolves null when the inspector does not answer.
 */
export async function collectGarbage(inspectorUrl: string, timeoutMs = 10_000): Promise<{ heapUsedBytes: number } | null> {
  const ws = new WebSocket(inspectorUrl, { perMessageDeflate: false });
  const timer = setTimeout(() => ws.terminate(), timeoutMs);
  try {
    return await new Promise((resolve) => {
      ws.once('open', () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' })));
      ws.on('message', (raw) => {
        const reply = JSON.parse(String(raw)) as { id?: number; error?: unknown; result?: { usedSize?: number } };
        if (reply.error !== undefined) resolve(null);
        else if (reply.id === 1) ws.send(JSON.stringify({ id: 2, method: 'Runtime.getHeapUsage' }));
        else if (reply.id === 2) resolve(typeof reply.result?.usedSize === 'number' ? { heapUsedBytes: reply.result.usedSize } : null);
      });
      ws.once('error', () => resolve(null));
      ws.once('close', () => resolve(null));
    });
  } finally {
    clearTimeout(timer);
    ws.close();
  }
}
