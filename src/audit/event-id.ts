// Owns the id an audit event is shown with. A request's event is `<requestId>:<cursor>`: its identity within what a
// caller may see, which says nothing of other requests. The table's own id is global and increasing (drawn for
// every event of every request, token and webhook), so the gap between two of one's own events would count
// everyone else's meanwhile; it is shown only for events of no request (token and webhook events: admins only).

/** The id an event is shown with (progress events, audit items, exports and retention's archives). */
export function eventId(row: { id: bigint | string; requestId: string | null; seq: number | null }): string {
  return row.requestId !== null && row.seq !== null ? `${row.requestId}:${row.seq}` : row.id.toString();
}
