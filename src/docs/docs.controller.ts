// Owns /docs: the OpenAPI document derived from the served handlers (./openapi.ts) and a Swagger UI page.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { Controller, Get, Header, Param, Res } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { send, type HttpReply } from '../common/http-reply.js';
import { Public } from '../auth/auth.guard.js';
import { DomainError } from '../common/domain-error.js';
import { ROUTE_NOT_FOUND_HINT } from '../common/http-exception.filter.js';
import { ApiOperation } from './api-operation.js';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi.js';
import { controllerRoutes, registeredControllers } from './served-routes.js';

// Swagger UI from the swagger-ui-dist package (node_modules, no CDN), with our own initializer.
const SWAGGER_UI_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const ASSETS = new Set([
  'swagger-ui.css',
  'index.css',
  'swagger-ui-bundle.js',
  'swagger-ui-standalone-preset.js',
  'favicon-32x32.png',
  'favicon-16x16.png',
]);

const ASSET_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
};
const assetCache = new Map<string, Buffer>();

const INITIALIZER = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: '/docs/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'BaseLayout',
    tryItOutEnabled: false,
  });
};
`;

const PAGE = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>osm-onboarding API</title>
    <link rel="stylesheet" type="text/css" href="/docs/assets/swagger-ui.css" />
    <link rel="stylesheet" type="text/css" href="/docs/assets/index.css" />
    <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32" />
  </head>
  <body>
    <noscript>This page needs JavaScript. The OpenAPI document is at
      <a href="/docs/openapi.json">/docs/openapi.json</a>.</noscript>
    <div id="swagger-ui"></div>
    <script src="/docs/assets/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="/docs/assets/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script src="/docs/assets/swagger-initializer.js" charset="UTF-8"></script>
  </body>
</html>
`;

/** API docs: the OpenAPI document of the routes this app serves, and a Swagger UI page. Public. */
@Public()
@Controller('docs')
export class DocsController {
  private document?: OpenApiDocument;

  constructor(private readonly modules: ModulesContainer) {}

  @ApiOperation({
    operationId: 'docs',
    tag: 'docs',
    summary: 'This documentation (Swagger UI)',
    responses: { 200: { description: 'an HTML page', media: 'html' } },
    errors: [],
  })
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  page() {
    return PAGE;
  }

  @ApiOperation({
    operationId: 'openapi',
    tag: 'docs',
    summary: 'The OpenAPI 3.1 document',
    responses: { 200: { description: 'this document' } },
    errors: [],
  })
  @Get('openapi.json')
  openapi() {
    return (this.document ??= buildOpenApiDocument(controllerRoutes(registeredControllers(this.modules))));
  }

  @ApiOperation({
    operationId: 'docsAsset',
    tag: 'docs',
    summary: "The documentation page's scripts and styles",
    responses: { 200: { description: 'a static file', media: 'asset' } },
    errors: ['ROUTE_NOT_FOUND'],
  })
  @Get('assets/:file')
  asset(@Param('file') file: string, @Res() res: HttpReply) {
    if (file === 'swagger-initializer.js') {
      send(res, { status: 200, type: ASSET_TYPES['.js'], body: INITIALIZER });
      return;
    }
    // A file not served is a path nothing serves: the router's code, without the name the caller sent.
    if (!ASSETS.has(file)) {
      throw new DomainError('ROUTE_NOT_FOUND', 'no such documentation asset', { hint: ROUTE_NOT_FOUND_HINT });
    }
    // A handful of files from a package, read once and kept (both HTTP platforms send the same bytes and headers).
    let body = assetCache.get(file);
    if (!body) assetCache.set(file, (body = readFileSync(join(SWAGGER_UI_DIR, file))));
    send(res, {
      status: 200,
      type: ASSET_TYPES[extname(file)],
      headers: { 'Cache-Control': 'public, max-age=86400' },
      body,
    });
  }
}
