// Owns the share of storable-text.ts's rule that falls to named scalar arguments: a REST path parameter or a GraphQL
// argument that is a string (or a list of them: `id`, `cluster`, `reason`) holding text Postgres cannot store (a NUL,
// `%00`, an unpaired surrogate) is refused as VALIDATION_FAILED naming it (`cluster`, `id`), like such text in a query
// string or body, instead of reaching a lookup or a message that would repeat it (`REQUEST_NOT_FOUND` for
// `onboardingRequest(id: "x\u0000")` against REST's 422 for `/v1/onboardings/%00`). A global pipe (src/app.ts), so it
// runs on both HTTP platforms and for every resolver once the parameter's name is known; a GraphQL input object is
// left to parseInput, which names its fields by their paths; other arguments pass untouched.
import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { DomainError, invalidInputMessage } from './domain-error.js';
import { unstorableTextFields } from './storable-text.js';

@Injectable()
export class StorablePathParams implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (!isNamedScalar(value, metadata)) return value;
    const fields = unstorableTextFields(value, metadata.data ? [metadata.data] : []);
    if (!fields.length) return value;
    throw new DomainError('VALIDATION_FAILED', invalidInputMessage(fields), { fields });
  }
}

function isNamedScalar(value: unknown, metadata: ArgumentMetadata): boolean {
  if (metadata.type === 'param') return true;
  // An `@Args(name)` argument comes as `body` with its name (Nest maps GqlParamtype.ARGS, 3, to RouteParamtypes.BODY);
  // REST takes its bodies whole (`@Body()`, no name), and the edge has checked them (http/platform.ts).
  if (metadata.type !== 'body' || !metadata.data) return false;
  return typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string'));
}
