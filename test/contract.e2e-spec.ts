import { readFileSync } from 'node:fs';
import request from 'supertest';
import { parse } from 'yaml';
import { CALLER_TOKEN, ROUTE } from './support/bff';
import { UPSTREAM_DOCUMENT, usePrismAndBff } from './support/prism';

/**
 * The BFF against a real mock of the upstream (Prism serving openapi/vendor/upstream.openapi.yaml).
 * Prism validates every request against the contract: a missing or malformed header or body
 * gets 400 (401 without Authorization) instead of the documented 201 example. A 201 through
 * the BFF therefore proves the request the BFF forwards satisfies the upstream contract.
 */
interface UpstreamDocument {
  paths: Record<
    string,
    {
      post: {
        requestBody: { content: { 'application/json': { example: Record<string, unknown> } } };
        responses: Record<string, { content: { 'application/json': { example: unknown } } }>;
      };
    }
  >;
}

const contract = parse(readFileSync(UPSTREAM_DOCUMENT, 'utf8')) as UpstreamDocument;
const operation = contract.paths[ROUTE].post;
const VENDOR_EXAMPLE = operation.requestBody.content['application/json'].example;
const CREATED_EXAMPLE = operation.responses['201'].content['application/json'].example;

function without(headers: Record<string, string>, name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([key]) => key !== name));
}

describe('BFF against the mock upstream (Prism, upstream contract)', () => {
  // The vendor's 201 example relayed whole, `token` included (stripped by default).
  const running = usePrismAndBff({ UPSTREAM_RESPONSE_TOKEN: 'relay' });

  it('forwards the vendor example in a form the contract accepts and relays the 201 example', async () => {
    const response = await request(running.bff.url)
      .post(ROUTE)
      .set('Authorization', `Bearer ${CALLER_TOKEN}`)
      .send(VENDOR_EXAMPLE);

    expect({ status: response.status, body: response.body as unknown }).toEqual({
      status: 201,
      body: CREATED_EXAMPLE,
    });
    expect(response.headers['content-type']).toMatch(/^application\/json/);
  });

  it("does not forward the caller's Prefer header (Prism would obey it and answer 401)", async () => {
    const response = await request(running.bff.url)
      .post(ROUTE)
      .set('Authorization', `Bearer ${CALLER_TOKEN}`)
      .set('Prefer', 'code=401')
      .send(VENDOR_EXAMPLE);

    expect(response.status).toBe(201);
    expect(response.body).toEqual(CREATED_EXAMPLE);
  });

  // Prism must reject what a broken BFF would send, or the tests above would prove nothing.
  describe('Prism itself enforces the contract', () => {
    const direct = (headers: Record<string, string>) =>
      request(running.prism.url).post(ROUTE).set(headers).send(VENDOR_EXAMPLE);
    const complete = {
      Authorization: `Bearer ${CALLER_TOKEN}`,
      'X-Session-Token': 'any-session-token',
      'Content-Type': 'application/json',
      Accept: 'application/json',
    };

    it('answers 201 to the headers the BFF sends', async () => {
      const response = await direct(complete);
      expect(response.status).toBe(201);
    });

    it('answers 400 without X-Session-Token, so a BFF that stopped sending it would fail', async () => {
      const response = await direct(without(complete, 'X-Session-Token'));

      expect(response.status).toBe(400);
      expect(response.headers['sl-violations']).toContain('x-session-token');
    });

    it('answers 401 without Authorization', async () => {
      const response = await direct(without(complete, 'Authorization'));

      expect(response.status).toBe(401);
    });

    it('obeys a Prefer header, so a BFF that forwarded it would fail', async () => {
      const response = await direct({ ...complete, Prefer: 'code=401' });

      expect(response.status).toBe(401);
    });

    it('answers 400 to a body with an extra field or a string creationStatus', async () => {
      const extra = await request(running.prism.url)
        .post(ROUTE)
        .set(complete)
        .send({ ...VENDOR_EXAMPLE, note: 'x' });
      const stringStatus = await request(running.prism.url)
        .post(ROUTE)
        .set(complete)
        .send({ ...VENDOR_EXAMPLE, creationStatus: '1' });

      expect([extra.status, stringStatus.status]).toEqual([400, 400]);
    });
  });
});
