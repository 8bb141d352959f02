import type { INestApplication } from '@nestjs/common';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner, ModulesContainer } from '@nestjs/core';

export interface ServedRoute {
  method: string;
  /** OpenAPI form: `:id` becomes `{id}`. */
  path: string;
  /** `Controller.method` that serves it. */
  handler: string;
}

/**
 * Every REST route of the running app, from Nest's own route metadata on the registered
 * controllers (the same metadata Nest's router resolver maps). The docs test compares it
 * with the route table in ./openapi.ts.
 */
export function nestRoutes(app: INestApplication): ServedRoute[] {
  const discovery = new DiscoveryService(app.get(ModulesContainer));
  const scanner = new MetadataScanner();
  const routes: ServedRoute[] = [];
  for (const wrapper of discovery.getControllers()) {
    const type = wrapper.metatype as (new (...args: never[]) => unknown) | undefined;
    if (!type?.prototype) continue;
    const prefixes = asArray(Reflect.getMetadata(PATH_METADATA, type) as string | string[] | undefined);
    const proto = type.prototype as Record<string, unknown>;
    for (const name of scanner.getAllMethodNames(proto)) {
      const handler = proto[name] as object;
      const paths = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      if (paths === undefined || method === undefined) continue;
      for (const prefix of prefixes) {
        for (const path of asArray(paths)) {
          routes.push({
            method: RequestMethod[method].toLowerCase(),
            path: toOpenApiPath(`${prefix}/${path}`),
            handler: `${type.name}.${name}`,
          });
        }
      }
    }
  }
  return routes;
}

/** The route layers of the Express router (controllers and middleware alike). */
export function expressRoutes(app: INestApplication): { method: string; path: string }[] {
  type Layer = { route?: { path: string | string[]; methods: Record<string, boolean> } };
  const express = app.getHttpAdapter().getInstance() as { router?: { stack: Layer[] } };
  return (express.router?.stack ?? []).flatMap((layer) =>
    layer.route
      ? asArray(layer.route.path).flatMap((path) =>
          Object.entries(layer.route!.methods)
            .filter(([, on]) => on)
            .map(([method]) => ({ method, path: toOpenApiPath(path) })),
        )
      : [],
  );
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? ([''] as T[]) : Array.isArray(v) ? v : [v]);

export function toOpenApiPath(path: string): string {
  const p = `/${path}`
    .replace(/\/{2,}/g, '/')
    .replace(/:(\w+)/g, '{$1}')
    .replace(/(.)\/$/, '$1');
  return p;
}
