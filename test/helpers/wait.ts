/** Shared by the tests: wait on a condition (never on a time), failing with what was awaited. */

/** Resolves with `fn()`'s first truthy value (it may be async), polling every `everyMs`; rejects after `ms`. */
export async function waitFor<T>(
  fn: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  what: string,
  ms = 30_000,
  everyMs = 25,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
