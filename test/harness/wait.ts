/**
 * Polls until `probe` returns something other than undefined, or fails after the timeout.
 * The one polling helper of the tests (services' own tests included); `probe` may answer
 * synchronously, for state a test reads in memory (a client's frames, a server's counters).
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
