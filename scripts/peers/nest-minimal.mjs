// Bench peer: the least a NestJS BFF on Fastify does for this route. One controller forwards the
// parsed body with HttpService.axiosRef over the project's undici adapter, with the caller's
// Authorization and the server-held X-Session-Token (UPSTREAM_SESSION_TOKEN) as the BFF does, and
// relays the answer: no validation, guards, logs, metrics, breaker or deadline. The issue's "NestJS on Fastify +
// @nestjs/axios with an undici-backed axios adapter" row. Plain JavaScript with the decorators
// applied by hand, so the bench needs no build step for it. Needs `npm run build` (the adapter).
//   UPSTREAM_BASE_URL=http://127.0.0.1:4010 UPSTREAM_SESSION_TOKEN=x PORT=3001 \
//     node scripts/peers/nest-minimal.mjs
import 'reflect-metadata';
import { HttpService } from '@nestjs/axios';
import {
  Body,
  Controller,
  Get,
  Headers,
  Inject,
  Injectable,
  Module,
  Post,
  Res,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Axios } from 'axios';
import { Agent } from 'undici';
import { undiciAdapter } from '../../dist/upstream/undici.adapter.js';

const ROUTE = '/interventions/v2/rs/preventive/routine';
const upstream = new URL(process.env.UPSTREAM_BASE_URL);
const sessionToken = process.env.UPSTREAM_SESSION_TOKEN;
const agent = new Agent({ connections: 128 });

class ProxyController {
  constructor(http) {
    this.http = http;
  }

  async create(body, authorization, reply) {
    const response = await this.http.axiosRef.request({
      method: 'post',
      url: ROUTE,
      data: JSON.stringify(body),
      headers: {
        'Content-Type': 'application/json',
        Authorization: authorization,
        'X-Session-Token': sessionToken,
      },
    });
    await reply.status(response.status).type('application/json').send(response.data);
  }

  ready() {
    return { status: 'ok' };
  }
}
Inject(HttpService)(ProxyController, undefined, 0);
const method = (name) => Object.getOwnPropertyDescriptor(ProxyController.prototype, name);
Post(ROUTE)(ProxyController.prototype, 'create', method('create'));
Body()(ProxyController.prototype, 'create', 0);
Headers('authorization')(ProxyController.prototype, 'create', 1);
Res()(ProxyController.prototype, 'create', 2);
Get('/health/ready')(ProxyController.prototype, 'ready', method('ready'));
Controller()(ProxyController);

class PeerModule {}
Module({
  controllers: [ProxyController],
  providers: [
    {
      provide: HttpService,
      // HttpService's type asks for the callable AxiosInstance (of axios' CommonJS typings, which
      // @nestjs/axios sees); the peer only uses axiosRef.request, which the plain Axios class has.
      useFactory: () =>
        new HttpService(
          /** @type {ConstructorParameters<typeof HttpService>[0]} */ (
            new Axios({ headers: {}, baseURL: upstream.origin, adapter: undiciAdapter(agent) })
          ),
        ),
    },
  ],
})(PeerModule);
Injectable()(ProxyController);

async function main() {
  /** @type {import('@nestjs/platform-fastify').NestFastifyApplication} */
  const app = await NestFactory.create(PeerModule, new FastifyAdapter(), { logger: false });
  await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
  process.once('SIGTERM', () => app.close().then(() => agent.close()));
}
await main();
