/** Longest `returnTo` accepted; a path in this app is far shorter. */
const MAX_RETURN_TO = 2048;
// A path on this origin: one slash then no slash or backslash (`//host` and `/\host` are other
// hosts to a browser), and no control character or space (browsers strip some, so `/\t/host`
// would become `//host`).
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
const LOCAL_PATH = /^\/(?![/\\])[^\\\x00-\x20\x7f]*$/;

/** `returnTo` if it is a path on this origin, else undefined (never a redirect elsewhere). */
export function localReturnTo(value: unknown, origin: string): string | undefined {
  if (value === undefined) return '/';
  if (typeof value !== 'string' || value.length > MAX_RETURN_TO || !LOCAL_PATH.test(value)) {
    return undefined;
  }
  // What a browser would make of it, relative to this origin: it must stay here.
  return URL.parse(value, origin)?.origin === new URL(origin).origin ? value : undefined;
}
