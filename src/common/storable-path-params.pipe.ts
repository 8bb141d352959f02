// Owns the REST path parameters' share of storable-text.ts's rule: a parameter holding text Postgres cannot store (a
// NUL, `%00`) is refused as VALIDATION_FAILED naming the parameter (`cluster`), like such text in a query string or
// body, instead of reaching a lookup or a message that would repeat it. A global pipe (src/app.ts), so it runs on
// both HTTP platforms once the route (and so the parameter's name) is known; other arguments pass untouched.
import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { DomainError } from './domain-error.js';
import { unstorableTextFields } from './storable-text.js';

@Injectable()
export class StorablePathParams implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type !== 'param') return value;
    const fields = unstorableTextFields(value, metadata.data ? [metadata.data] : []);
    if (!fields.length) return value;
    const message = `invalid input: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`;
    throw new DomainError('VALIDATION_FAILED', message, { fields });
  }
}
