import type {
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  ResponseObject,
} from '@nestjs/swagger';
import { SESSION_COOKIE } from '../session/cookies';

export const SESSION_SCHEME = 'session';

const SESSION_DESCRIPTION =
  `The \`${SESSION_COOKIE}\` cookie (HttpOnly, Secure, SameSite=Strict), set by \`/bff/callback\` after ` +
  'a login at `/bff/login` (RFC 10017, OAuth 2.0 for Browser-Based Applications: the BFF pattern). ' +
  "The browser never holds a token: the BFF keeps the user's tokens and sends the access token " +
  'upstream itself. Every API call must also carry `X-CSRF: 1`; a same-origin `fetch` sends the cookie ' +
  'by itself, a frontend on another origin listed in `CORS_ORIGINS` uses `credentials: "include"`.';

const LOGIN_NOTE =
  '\n\n**Session mode**: [log in](/bff/login?returnTo=/docs) first; this page then sends your ' +
  'session cookie and `X-CSRF: 1` with every request. [Who am I?](/bff/user) needs the header, so ' +
  'try `GET /bff/user` below.';

const operationsOf = (document: OpenAPIObject): OperationObject[] =>
  Object.values(document.paths).flatMap((item) =>
    [item.get, item.put, item.post, item.delete, item.patch].filter((op) => op !== undefined),
  );

/** The proxied routes' 429 as it is in session mode: budgets keyed by the session's user. */
const SESSION_TOO_MANY =
  'Over a budget; nothing is sent upstream. Per minute: more than `RATE_LIMIT_PER_MINUTE` requests ' +
  "from this session's user (`iss` + `sub`, whichever of their sessions calls), more than " +
  '`RATE_LIMIT_PER_ADDRESS_PER_MINUTE` from this client address, or more than ' +
  '`AUTH_FAILURES_PER_MINUTE` refused session cookies from this address: the address budgets never ' +
  'refuse a valid session. Or more than `MAX_IN_FLIGHT_PER_ADDRESS` upstream calls from this address ' +
  'still in flight, or as many as there are free upstream slots (the last ones go to addresses ' +
  'holding none).';

/**
 * The API document of the session mode, from the bearer-mode one: the cookie scheme instead of the
 * bearer one, and on every proxied route the X-CSRF header and the 401/403 answers of
 * `GET /bff/user` (documented once, on the session routes), and its own 429.
 */
export function withSessionAuth(document: OpenAPIObject): OpenAPIObject {
  const schemes = (document.components ??= {}).securitySchemes ?? {};
  delete schemes.bearer;
  schemes[SESSION_SCHEME] = {
    type: 'apiKey',
    in: 'cookie',
    name: SESSION_COOKIE,
    description: SESSION_DESCRIPTION,
  };
  document.components.securitySchemes = schemes;
  document.info.description = `${document.info.description ?? ''}${LOGIN_NOTE}`;
  document.tags = [
    ...(document.tags ?? []),
    { name: 'Session', description: 'Log in and out; who is logged in (session mode).' },
  ];

  const user = document.paths['/bff/user']?.get as OperationObject;
  const csrf = (user.parameters as ParameterObject[]).find((p) => p.name === 'X-CSRF');
  const [unauthorized, forbidden] = ['401', '403'].map(
    (status) => user.responses[status] as ResponseObject,
  );
  for (const path of ['/bff/user', '/bff/logout']) {
    const operation = document.paths[path]?.get ?? document.paths[path]?.post;
    if (operation !== undefined) operation.security = [{ [SESSION_SCHEME]: [] }];
  }
  for (const operation of operationsOf(document)) {
    if (!operation.security?.some((requirement) => 'bearer' in requirement)) continue;
    operation.security = [{ [SESSION_SCHEME]: [] }];
    operation.parameters = [...(operation.parameters ?? []), csrf as ParameterObject];
    const headers = { ...(operation.responses['401'] as ResponseObject | undefined)?.headers };
    delete headers['WWW-Authenticate'];
    operation.responses['401'] = { ...unauthorized, headers };
    operation.responses['403'] = { ...forbidden, headers };
    const tooMany = operation.responses['429'] as ResponseObject | undefined;
    if (tooMany !== undefined) {
      operation.responses['429'] = { ...tooMany, description: SESSION_TOO_MANY };
    }
  }
  return document;
}
