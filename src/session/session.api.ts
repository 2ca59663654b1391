import { applyDecorators } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiProperty, ApiQuery, ApiResponse } from '@nestjs/swagger';
import { ApiProblemResponse } from '../swagger/api-problem-response.decorator';
import { CORS_HEADERS, RATE_LIMIT_HEADERS, RETRY_AFTER_HEADER } from '../swagger/response-headers';

const ANSWER_HEADERS = { ...RATE_LIMIT_HEADERS, ...CORS_HEADERS };

export class UserDto {
  @ApiProperty({
    description: "The provider's subject identifier.",
    maxLength: 255,
    pattern: '^\\S+$',
    example: 'demo-technician',
  })
  readonly sub!: string;

  @ApiProperty({
    required: false,
    description: 'When the provider gives it.',
    maxLength: 1024,
    pattern: '^[^\\x00-\\x1f]*$',
    example: 'Ada Demo',
  })
  readonly name?: string;

  @ApiProperty({
    required: false,
    description: 'When the provider gives it.',
    format: 'email',
    maxLength: 320,
    example: 'ada@example.test',
  })
  readonly email?: string;

  @ApiProperty({
    description:
      'When the session ends if unused (idle or absolute timeout, the earlier), RFC 3339.',
    format: 'date-time',
    maxLength: 24,
    example: '2026-12-03T18:00:00.000Z',
  })
  readonly sessionExpiresAt!: string;
}

export class LogoutDto {
  @ApiProperty({
    type: String,
    nullable: true,
    format: 'uri',
    maxLength: 8192,
    description:
      "The provider's end-session URL (with `id_token_hint` and `post_logout_redirect_uri`) to send the " +
      'browser to, or null when the provider has none.',
    example:
      'https://id.example/session/end?id_token_hint=eyJ...&post_logout_redirect_uri=https%3A%2F%2Fbff.example%2F',
  })
  readonly endSessionUrl!: string | null;
}

const CSRF = ApiHeader({
  name: 'X-CSRF',
  required: true,
  description:
    'Must be `1`: the CSRF defence of RFC 10017 (a cross-site form or link cannot send it).',
  schema: { type: 'string', enum: ['1'] },
});

const SESSION_PROBLEMS = [
  ApiProblemResponse({
    status: 401,
    kind: 'unauthorized',
    description:
      'No session cookie, or one that is unknown, forged, expired or logged out; `session-ended`: ' +
      "the provider refused to renew the session's tokens and the session has ended.",
    detail: 'A session is required: log in at /bff/login.',
    headers: ANSWER_HEADERS,
  }),
  ApiProblemResponse({
    status: 403,
    kind: 'forbidden',
    description: 'The `X-CSRF: 1` header is missing.',
    detail: 'The header X-CSRF: 1 is required.',
    headers: ANSWER_HEADERS,
  }),
];

const REDIRECT = {
  headers: {
    ...ANSWER_HEADERS,
    Location: { schema: { type: 'string', format: 'uri-reference', maxLength: 8192 } },
  },
};

/** What every /bff/* endpoint may answer: the address's budget, a bug, the provider or store down. */
export const ApiSessionEndpoint = () =>
  applyDecorators(
    ApiProblemResponse({
      status: 429,
      kind: 'too-many-requests',
      description: 'More than `RATE_LIMIT_PER_ADDRESS_PER_MINUTE` requests from this address.',
      detail: 'More than 600 requests from this address per 60 s; retry in 42 s.',
      headers: { ...ANSWER_HEADERS, ...RETRY_AFTER_HEADER },
    }),
    ApiProblemResponse({
      status: 500,
      kind: 'internal-error',
      description: 'An unexpected error in the BFF (a bug), logged with its stack.',
      detail: 'An unexpected error occurred.',
      headers: ANSWER_HEADERS,
    }),
    ApiProblemResponse({
      status: 503,
      kind: 'auth-unavailable',
      description: 'The identity provider or the session store (Redis) cannot be reached.',
      detail: 'The identity provider cannot be reached; retry later.',
      headers: { ...ANSWER_HEADERS, ...RETRY_AFTER_HEADER },
    }),
  );

export const ApiLogin = () =>
  applyDecorators(
    ApiOperation({
      operationId: 'login',
      summary: 'Log in at the identity provider',
      description:
        "Redirects the browser to the provider's authorization endpoint (authorization code with PKCE); " +
        'the provider sends it back to `/bff/callback`. Open it in the browser, not with fetch.',
    }),
    ApiQuery({
      name: 'returnTo',
      required: false,
      description: 'A path on this site to come back to after the login; `/` by default.',
      schema: { type: 'string', maxLength: 2048, pattern: '^/(?![/\\\\])', example: '/docs' },
    }),
    ApiResponse({ status: 302, description: "To the provider's login.", ...REDIRECT }),
    ApiProblemResponse({
      status: 400,
      kind: 'malformed-request',
      description:
        '`returnTo` is not a path on this site (an absolute URL, `//host`, a backslash).',
      detail: 'returnTo must be a path on this site, such as /docs.',
      headers: ANSWER_HEADERS,
    }),
  );

export const ApiCallback = () =>
  applyDecorators(
    ApiOperation({
      operationId: 'loginCallback',
      summary: "The provider's redirect back after a login",
      description:
        'Exchanges the code (state, nonce and PKCE checked), creates a session and redirects to `returnTo` ' +
        'with the `__Host-bff-session` cookie. Only the provider sends browsers here.',
    }),
    ApiResponse({ status: 302, description: 'Logged in: to `returnTo`.', ...REDIRECT }),
    ApiProblemResponse({
      status: 400,
      kind: 'login-failed',
      description:
        'No login in progress in this browser (or older than 10 minutes), a wrong state, an error from the ' +
        'provider, or a failed code exchange. No session is created.',
      detail: 'The login could not be completed; start again at /bff/login.',
      headers: ANSWER_HEADERS,
    }),
  );

export const ApiUser = () =>
  applyDecorators(
    ApiOperation({
      operationId: 'currentUser',
      summary: 'Who is logged in',
      description: "The session's user, and when the session ends if unused.",
    }),
    CSRF,
    ApiResponse({
      status: 200,
      description: 'The logged-in user.',
      type: UserDto,
      headers: ANSWER_HEADERS,
    }),
    ...SESSION_PROBLEMS,
  );

export const ApiLogout = () =>
  applyDecorators(
    ApiOperation({
      operationId: 'logout',
      summary: 'Log out',
      description:
        "Ends the session, revokes its refresh token at the provider when it can, and clears the cookie. Send the browser to `endSessionUrl` to end the provider's own session too.",
    }),
    CSRF,
    ApiResponse({
      status: 200,
      description: 'Logged out.',
      type: LogoutDto,
      headers: ANSWER_HEADERS,
    }),
    ...SESSION_PROBLEMS,
  );
