import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import { createOpenApiDocument } from '../../src/api/openapi';

/**
 * Checks an answer against the OpenAPI document (src/api/openapi.ts): for a documented path and
 * method, its status must be documented and its body must match that status's schema (HEAD is
 * judged as GET without a body). Returns the problems found (none when it conforms).
 *
 * The API (`/v1/…`) and the link pages (`/verify-email…`, `/undo-email-change`) must be in the
 * document: an answer from a path or method of theirs it does not describe is a problem too (a
 * test that calls an unknown route on purpose says `contract: false`). Other paths (health checks
 * aside, which are documented: /dev/outbox, /docs, /metrics, the codec server) are not judged,
 * nor are CORS preflights (OPTIONS), which the CORS layer answers before any route.
 */

const document = createOpenApiDocument();
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(document as object, 'openapi.json');

type Operation = { responses?: Record<string, { content?: Record<string, unknown>; headers?: Record<string, { required?: boolean }> }> };
const routes = Object.entries(document.paths ?? {}).map(([template, item]) => ({
  template,
  pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
  item: item as Record<string, Operation>,
}));

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
const validators = new Map<string, ValidateFunction>();
function validatorFor(ref: string): ValidateFunction {
  let validate = validators.get(ref);
  if (!validate) validators.set(ref, (validate = ajv.compile({ $ref: ref })));
  return validate;
}

/** The paths every answer of which the document must describe. */
export const MUST_BE_DOCUMENTED = /^\/(v1\/|verify-email(\/|$)|undo-email-change(\/|$))/;

export function openApiProblems(method: string, url: string, res: { status: number; headers: Headers; body: unknown }): string[] {
  const path = new URL(url, 'http://x').pathname;
  method = method.toUpperCase();
  if (method === 'OPTIONS') return [];
  const route = routes.find((r) => r.pattern.test(path));
  const operation = route?.item[method === 'HEAD' ? 'get' : method.toLowerCase()];
  if (!route || !operation) {
    if (!MUST_BE_DOCUMENTED.test(path)) return [];
    return [`${method} ${path} → ${res.status}: ${route ? `${method} ${route.template} is` : 'the path is'} not in the OpenAPI document`];
  }
  const where = `${method} ${route.template} → ${res.status}`;
  const response = operation.responses?.[String(res.status)];
  if (!response) return [`${where}: status not in the OpenAPI document (documented: ${Object.keys(operation.responses ?? {}).join(', ')})`];
  const problems: string[] = [];
  for (const [name, header] of Object.entries(response.headers ?? {})) {
    if (header.required && !res.headers.get(name)) problems.push(`${where}: required header ${name} missing`);
  }
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const documented = Object.keys(response.content ?? {});
  if (documented.length === 0) {
    if (type) problems.push(`${where}: answered ${type}, the document says no body`);
    return problems;
  }
  if (!documented.includes(type)) return [...problems, `${where}: answered ${type || 'no body'}, the document says ${documented.join(' or ')}`];
  if (type !== 'application/json' || method === 'HEAD') return problems;
  const validate = validatorFor(`openapi.json#/${pointer('paths', route.template, method.toLowerCase(), 'responses', String(res.status), 'content', type, 'schema')}`);
  if (!validate(res.body)) problems.push(`${where}: body does not match the document: ${ajv.errorsText(validate.errors, { dataVar: 'body' })}`);
  return problems;
}
