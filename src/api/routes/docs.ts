import { createReadStream } from 'node:fs';
import path from 'node:path';
import Router from '@koa/router';
import type { AppState } from '../middleware';
import { createOpenApiDocument } from '../openapi';

/** swagger-ui-dist ships the browsable page's assets; they are served from node_modules, no CDN. */
const SWAGGER_UI = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const ASSETS: Record<string, [file: string, type: string]> = {
  'swagger-ui.css': ['swagger-ui.css', 'text/css'],
  'swagger-ui-bundle.js': ['swagger-ui-bundle.js', 'application/javascript'],
};

// The page's own script is a file too, so the page needs no inline script.
const INIT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#docs', deepLinking: true });
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Email change service API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

/** The contract for app teams: GET /openapi.json (OpenAPI 3.1, from the zod schemas) and GET /docs to browse it. */
export function docsRoutes(publicBaseUrl: string): Router<AppState> {
  const router = new Router<AppState>();
  const document = { ...createOpenApiDocument(), servers: [{ url: publicBaseUrl }] };

  router.get('/openapi.json', (ctx) => {
    ctx.body = document;
  });
  router.get('/docs', (ctx) => {
    ctx.type = 'html';
    ctx.body = PAGE;
  });
  router.get('/docs/init.js', (ctx) => {
    ctx.type = 'application/javascript';
    ctx.body = INIT;
  });
  router.get('/docs/:asset', (ctx) => {
    const asset = ASSETS[ctx.params.asset!];
    if (!asset) return; // 404 by the error handler
    ctx.type = asset[1];
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = createReadStream(path.join(SWAGGER_UI, asset[0]));
  });
  return router;
}
