import type { UpstreamRequest } from '../upstream/upstream.client';

export const PROXIED_ROUTE = 'bff:proxied-route';

/** What a @ProxiedRoute() records on its handler, for the interceptors and for CORS. */
export interface ProxiedRouteMetadata {
  readonly method: UpstreamRequest['method'];
  readonly path: string;
  readonly operationId: string;
}
