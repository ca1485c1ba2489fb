import { createRoute, z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../../functions/api/app.ts';
import { builtSchema, documentedRoute, requestSchema } from '../../../functions/api/schemas.ts';

/** A request schema whose builds are counted. */
function counted() {
  let builds = 0;
  const schema = requestSchema(() => {
    builds++;
    return z.object({
      id: z
        .string()
        .min(1)
        .max(3)
        .openapi({ param: { name: 'id', in: 'path' } }),
      limit: z.coerce.number().int().default(20),
    });
  });
  return { schema, builds: () => builds };
}

describe('requestSchema (API request schemas built on first use)', () => {
  it('builds nothing until it parses, then builds once', () => {
    // Prepare
    const { schema, builds } = counted();
    const route = documentedRoute(
      createRoute({ method: 'get', path: '/x/{id}', request: { params: schema }, responses: {} }),
    );

    // Act / Assess: making the route and its documented form builds nothing
    expect(route.path).toBe('/x/{id}');
    expect(builds()).toBe(0);
    schema.safeParse({ id: 'a' });
    schema.safeParse({ id: 'b' });
    expect(builds()).toBe(1);
  });

  it('parses to the same data and the same issues as the schema it stands for', async () => {
    // Prepare
    const { schema } = counted();
    const built = builtSchema(schema);

    // Act
    const ok = await schema.safeParseAsync({ id: 'ab', limit: '5' });
    const bad = await schema.safeParseAsync({ id: 'abcd', limit: 'x' });

    // Assess
    expect(built).not.toBe(schema);
    expect(ok).toEqual(await built.safeParseAsync({ id: 'ab', limit: '5' }));
    expect(ok.data).toEqual({ id: 'ab', limit: 5 });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues).toEqual((await built.safeParseAsync({ id: 'abcd', limit: 'x' })).error?.issues);
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toEqual(['id', 'limit']);
  });

  it('hands the document the built schemas of params, query and body', () => {
    // Prepare
    const { schema } = counted();
    const body = requestSchema(() => z.object({ name: z.string() }));
    const route = documentedRoute(
      createRoute({
        method: 'post',
        path: '/x/{id}',
        request: {
          params: schema,
          query: schema,
          body: { content: { 'application/json': { schema: body } }, required: true },
        },
        responses: {},
      }),
    );

    // Act
    const request = route.request;

    // Assess
    expect(request?.params).toBe(builtSchema(schema));
    expect(request?.query).toBe(builtSchema(schema));
    expect(request?.body?.content['application/json']?.schema).toBe(builtSchema(body));
    expect(request?.body?.required).toBe(true);
    expect(route.request).toBe(request);
  });

  it('the API document lists the parameters of routes registered with stand-ins', () => {
    // Act
    const doc = openApiDocument();

    // Assess
    expect(doc.paths?.['/executions/{id}']?.get?.parameters).toEqual([
      expect.objectContaining({ name: 'id', in: 'path', required: true }),
    ]);
    expect(doc.paths?.['/approvals']?.get?.parameters?.map((p) => ('name' in p ? p.name : p.$ref))).toEqual([
      'status',
      'limit',
    ]);
  });
});
