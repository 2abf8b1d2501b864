/** Polls `read` until `done` holds for its value, or fails after `hangGuardMs` (a hang guard, not a bound). */
export async function waitFor<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  what: string | (() => string),
  hangGuardMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + hangGuardMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) {
      const described = typeof what === "string" ? what : what();
      throw new Error(`still waiting for ${described}: ${JSON.stringify(value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
