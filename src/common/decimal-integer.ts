// Owns how an integer query parameter or header is read: plain decimal digits only. z.coerce.number() would take
// whatever Number() takes ('' as 0, '1e2', '0x10', '  5'); here a string of digits becomes its number and anything
// else reaches the number schema as it came, which refuses it with that schema's own message. A number (a GraphQL
// Int argument given to the same schema) passes through, so REST and GraphQL share one schema and one message.
import { z } from 'zod';

const DIGITS = /^\d+$/;

/** `schema` (a z.number() with its bounds and messages) for a value that arrives as text: decimal digits only. */
export const decimalInteger = <S extends z.ZodType>(schema: S) =>
  z.preprocess((value) => (typeof value === 'string' && DIGITS.test(value) ? Number(value) : value), schema);

/** An integer from min to max, every refusal saying so (`must be an integer between 1 and 200`). */
export function boundedInteger(min: number, max: number) {
  const message = `must be an integer between ${min} and ${max}`;
  return z.number({ error: message }).int(message).min(min, message).max(max, message);
}
