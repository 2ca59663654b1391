import type { HeadersObject } from '@nestjs/swagger';

/** How a relayed answer's own back-off headers stand beside the BFF's. */
const RELAYED =
  ' On a relayed upstream answer that carries its own, the upstream value is passed on instead, as it was sent.';

export const RETRY_AFTER_HEADER: HeadersObject = {
  'Retry-After': {
    description: `Seconds to wait before trying again, 1 to 600 when the BFF sets it.${RELAYED}`,
    schema: { type: 'integer', format: 'int32', minimum: 1, maximum: 600 },
  },
};

const RATE_LIMITED =
  'Sent on every answer of a proxied route once the budgets have run (each budget with a limit > 0): ' +
  'the per-address budget from the first check on, the per-caller one once the caller is known. A 429 ' +
  'names the one budget it exceeded (`"per-address"`, `"per-caller"` or `"auth-failures"`). Not on the ' +
  'answers Fastify gives while reading the body (malformed JSON, 413, a Content-Type other than JSON).';

const POLICY = '"(?:per-address|per-caller|auth-failures)";q=[0-9]{1,7};w=60';
const LEFT = '"(?:per-address|per-caller|auth-failures)";r=[0-9]{1,7};t=[0-9]{1,2}';

/**
 * draft-ietf-httpapi-ratelimit-headers in structured-field form, as CallerBudgets writes them: a
 * list of the budgets that apply, each over 60 s with a quota of at most 1000000.
 */
export const RATE_LIMIT_HEADERS: HeadersObject = {
  'RateLimit-Policy': {
    description: `The budgets: \`q\` requests per \`w\` seconds each. ${RATE_LIMITED}${RELAYED}`,
    schema: {
      type: 'string',
      pattern: `^${POLICY}(?:, ${POLICY})?$`,
      maxLength: 64,
      example: '"per-address";q=600;w=60, "per-caller";q=120;w=60',
    },
  },
  RateLimit: {
    description: `What is left of each: \`r\` requests for the next \`t\` seconds. ${RATE_LIMITED}${RELAYED}`,
    schema: {
      type: 'string',
      pattern: `^${LEFT}(?:, ${LEFT})?$`,
      maxLength: 64,
      example: '"per-address";r=599;t=60, "per-caller";r=119;t=60',
    },
  },
};

/** An origin of at most 267 characters: src/config/app.config.ts bounds each of `CORS_ORIGINS`. */
export const CORS_HEADERS: HeadersObject = {
  'Access-Control-Allow-Origin': {
    description:
      "The request's `Origin`, when it is one of `CORS_ORIGINS` (exact origins; none by default, and then " +
      'no CORS header is ever sent). It comes with `Vary: Origin` and `Access-Control-Expose-Headers: ' +
      'X-Request-Id, Retry-After, RateLimit, RateLimit-Policy, Idempotent-Replayed`. Preflights allow ' +
      'the methods of the proxied routes and the headers Authorization, Content-Type, X-Request-Id and ' +
      "Idempotency-Key, cached 600 s. The upstream's CORS headers are never relayed.",
    schema: { type: 'string', format: 'uri', pattern: '^https?://[^\\s,/]+$', maxLength: 267 },
  },
};
