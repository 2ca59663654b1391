import { Injectable } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { PROXIED_ROUTE, ProxiedRouteMetadata } from './proxied-route.metadata';

/** Every @ProxiedRoute() of the app, read off the controllers (CORS allows exactly their methods). */
@Injectable()
export class ProxiedRoutes {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
  ) {}

  list(): ProxiedRouteMetadata[] {
    return this.discovery.getControllers().flatMap(({ instance }) => {
      if (!instance) return [];
      const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
      return this.scanner.getAllMethodNames(prototype).flatMap((name) => {
        const route = this.reflector.get<ProxiedRouteMetadata | undefined>(
          PROXIED_ROUTE,
          prototype[name] as () => unknown,
        );
        return route ? [route] : [];
      });
    });
  }
}
