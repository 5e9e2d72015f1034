import fs from 'node:fs';
import path from 'node:path';
import openapiTS, { astToString } from 'openapi-typescript';
import { createOpenApiDocument } from '../api/openapi';

/** Where the generated files live (committed; a test checks they are current). */
export const SCHEMA_TYPES_PATH = path.join(__dirname, 'schema.d.ts');
export const OPENAPI_JSON_PATH = path.join(__dirname, '../../docs/openapi.json');

/** The OpenAPI document as docs/openapi.json holds it. */
export const openApiJson = () => `${JSON.stringify(createOpenApiDocument(), null, 2)}\n`;

const HEADER = `/**
 * The API's types, generated from its OpenAPI document (src/api/openapi.ts) by openapi-typescript.
 * Do not edit: run \`npm run generate:client\`.
 */

`;

/** The TypeScript types of the current OpenAPI document, as `npm run generate:client` writes them. */
export async function schemaTypes(): Promise<string> {
  const ast = await openapiTS(createOpenApiDocument() as Parameters<typeof openapiTS>[0]);
  return HEADER + astToString(ast);
}

async function run() {
  fs.writeFileSync(OPENAPI_JSON_PATH, openApiJson());
  fs.writeFileSync(SCHEMA_TYPES_PATH, await schemaTypes());
  for (const file of [OPENAPI_JSON_PATH, SCHEMA_TYPES_PATH]) console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

if (require.main === module) {
  run().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
