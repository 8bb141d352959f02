// Owns `npm run lint:api`'s input: writes the OpenAPI document of the app's REST handlers (the same one
// /docs/openapi.json serves) to the path given (default openapi.json), without starting the app.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AppModule } from '../src/app.module.js';
import { loadConfig } from '../src/config/config.js';
import { buildOpenApiDocument, undocumented } from '../src/docs/openapi.js';
import { controllerRoutes, moduleControllers } from '../src/docs/served-routes.js';

const out = process.argv[2] ?? 'openapi.json';
// The defaults are enough: nothing connects, only the module tree of the API role is read.
const config = loadConfig({ ROLE: 'api' });
const routes = controllerRoutes(moduleControllers(await AppModule.forRole(config)));
const missing = undocumented(routes);
if (missing.length) {
  console.error(`handlers without @ApiOperation (src/docs/api-operation.ts):\n  ${missing.join('\n  ')}`);
  process.exit(1);
}
const document = buildOpenApiDocument(routes);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(document, null, 2) + '\n');
console.log(`wrote ${out}`);
