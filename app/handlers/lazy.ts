/**
 * A Lambda entry point whose handler is built on the first invocation, not at import: the
 * environment is read once, where a missing variable fails that invocation with a message naming
 * it, and importing the module (bundling, tests) needs no environment at all.
 */
export function onFirstCall<E, C, R>(build: () => (event: E, context: C) => Promise<R>): (event: E, context: C) => Promise<R> {
  let built: ((event: E, context: C) => Promise<R>) | undefined;
  return (event, context) => {
    built ??= build();
    return built(event, context);
  };
}
