// Owns the list of REST routes the app serves, read from Nest's own route metadata (and the Express
// router, to check that metadata against what is really routed), with each handler's @ApiOperation.
import { platformRoutes } from '../http/platform.js';
import type { DynamicModule, ForwardReference, INestApplication, Type } from '@nestjs/common';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, MODULE_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner, ModulesContainer } from '@nestjs/core';
import { PUBLIC } from '../auth/auth.guard.js';
import { API_OPERATION, type ApiOperationDoc } from './api-operation.js';

export interface ServedRoute {
  method: string;
  /** OpenAPI form: `:id` becomes `{id}`. */
  path: string;
  /** `Controller.method` that serves it. */
  handler: string;
}

/** A served route and its documentation (undefined when the handler has no @ApiOperation). */
export interface DocumentedRoute extends ServedRoute {
  doc?: ApiOperationDoc;
  /** Marked `@Public()`: answers without credentials. */
  isPublic: boolean;
}

/** The controllers registered in a running app (or an app context). */
export function registeredControllers(container: ModulesContainer): Type[] {
  return new DiscoveryService(container)
    .getControllers()
    .map((w) => w.metatype as Type | undefined)
    .filter((t): t is Type => Boolean(t?.prototype));
}

/** Every REST route of the running app, from Nest's own route metadata on the registered controllers. */
export function nestRoutes(app: INestApplication): DocumentedRoute[] {
  return controllerRoutes(registeredControllers(app.get(ModulesContainer)));
}

/**
 * The routes of these controllers, from the metadata Nest's router resolver maps (path, method), with the
 * handler's @ApiOperation and whether it (or its controller) is @Public().
 */
export function controllerRoutes(controllers: Type[]): DocumentedRoute[] {
  const scanner = new MetadataScanner();
  const routes: DocumentedRoute[] = [];
  for (const type of controllers) {
    const prefixes = asArray(Reflect.getMetadata(PATH_METADATA, type) as string | string[] | undefined);
    const proto = type.prototype as Record<string, unknown>;
    for (const name of scanner.getAllMethodNames(proto)) {
      const handler = proto[name] as object;
      const paths = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      if (paths === undefined || method === undefined) continue;
      const doc = Reflect.getMetadata(API_OPERATION, handler) as ApiOperationDoc | undefined;
      const isPublic = Boolean(Reflect.getMetadata(PUBLIC, handler) ?? Reflect.getMetadata(PUBLIC, type));
      for (const prefix of prefixes) {
        for (const path of asArray(paths)) {
          routes.push({
            method: RequestMethod[method].toLowerCase(),
            path: toOpenApiPath(`${prefix}/${path}`),
            handler: `${type.name}.${name}`,
            doc,
            isPublic,
          });
        }
      }
    }
  }
  return routes;
}

/** The routes the HTTP platform's router serves (controllers and middleware alike), as OpenAPI paths. */
export function expressRoutes(app: INestApplication): { method: string; path: string }[] {
  return platformRoutes(app).map(({ method, path }) => ({ method, path: toOpenApiPath(path) }));
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? ([''] as T[]) : Array.isArray(v) ? v : [v]);

export function toOpenApiPath(path: string): string {
  const p = `/${path}`
    .replace(/\/{2,}/g, '/')
    .replace(/:(\w+)/g, '{$1}')
    .replace(/(.)\/$/, '$1');
  return p;
}

type ModuleLike = Type | DynamicModule | Promise<DynamicModule> | ForwardReference;

/**
 * The controllers of a module tree, read from the module metadata (static and dynamic modules alike)
 * without creating the app: what scripts/dump-api.ts documents offline.
 */
export function moduleControllers(root: ModuleLike): Type[] {
  const found = new Set<Type>();
  const seen = new Set<unknown>();
  const visit = (m: ModuleLike | undefined) => {
    if (!m || seen.has(m) || m instanceof Promise || 'forwardRef' in m) return;
    seen.add(m);
    const dynamic = 'module' in m ? m : undefined;
    const type = dynamic ? dynamic.module : (m as Type);
    const meta = (key: string) => (Reflect.getMetadata(key, type) as unknown[] | undefined) ?? [];
    for (const c of [...meta(MODULE_METADATA.CONTROLLERS), ...(dynamic?.controllers ?? [])]) found.add(c as Type);
    for (const i of [...meta(MODULE_METADATA.IMPORTS), ...(dynamic?.imports ?? [])]) visit(i as ModuleLike);
  };
  visit(root);
  return [...found];
}
