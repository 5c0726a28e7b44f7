// Which REST routes this server has, from its OpenAPI document
// (GET /v1/openapi.json): the pages show a control only when its endpoint
// exists, without probing the API with requests that would fail.

/** Resolves to `has(method, path)`; every answer is false when the document cannot be read. */
export async function routes(client) {
  let paths = {};
  try {
    const r = await fetch(`${client.base}/v1/openapi.json`);
    if (r.ok) paths = (await r.json()).paths || {};
  } catch {
    /* an old server or no network: nothing optional is shown */
  }
  return (method, path) => !!paths[path]?.[method.toLowerCase()];
}
