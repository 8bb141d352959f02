// Owns the shape of an idempotency key once parsed: its value and the name of the field that carried it (REST's
// `Idempotency-Key` header, GraphQL's `idempotencyKey` argument), so that a service's refusal of the key
// (IDEMPOTENCY_KEY_REUSED) names the field the caller actually used.

export interface IdempotencyKey {
  value: string;
  field: 'Idempotency-Key' | 'idempotencyKey';
}
