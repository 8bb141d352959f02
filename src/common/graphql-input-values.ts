// Owns keeping the values a caller sent out of graphql-js's own error messages. graphql-js quotes the value it
// could not use: `Variable "$i" got invalid value { url: …, secret: "…", bogus: 1 } at "i.x"; <reason>`, and
// the built-in scalars and enums quote it again in the reason (`String cannot represent a non string value: …`),
// as validation does for a literal in the document. A webhook's signing secret sent with one wrong field would
// come back in the answer, and into whatever logs answers. formatGraphQLError (every GraphQL error, over HTTP and
// graphql-ws) rewrites these messages here: the variable, the path and the reason stay; the value goes.

const VARIABLE = /^Variable "\$([_A-Za-z][_0-9A-Za-z]*)" got invalid value /;
/** graphql-js's `at "<variable><path>"` after the value: field names and list indexes, never a quote. */
const AT_PATH = / at "([^"\\]*)"$/;

/**
 * What a reason says about the value, without it. String, Int, Float, Boolean, ID and enums: `<Type> cannot
 * represent …: <value>`; an enum: `Value "<value>" does not exist in "<Enum>" enum.`; a literal:
 * `Expected value of type "<Type>", found <literal>.` (and `; <scalar's message>`, which may quote it too);
 * an argument: `Argument "<name>" has invalid value <literal>.`.
 */
const QUOTING: [RegExp, string][] = [
  [/^([^:]*? cannot represent [^:]*?)\.?: [\s\S]*$/, '$1'],
  [/^Value [\s\S]* does not exist in ("[_A-Za-z][_0-9A-Za-z]*" enum\.)/, 'Value does not exist in $1'],
  [/^(Expected value of type "[^"]*"), found [\s\S]*$/, '$1.'],
  [/^(Argument "[^"]*") has invalid value [\s\S]*$/, '$1 has an invalid value.'],
];

/** Below this length an echoed value is not looked for in a message: too likely to be part of its words. */
const MIN_ECHO = 8;

function withoutQuotedValue(message: string): string {
  for (const [pattern, replacement] of QUOTING) {
    if (pattern.test(message)) return message.replace(pattern, replacement);
  }
  return message;
}

/**
 * `message` (a graphql-js error's) without the input value it quotes. `reason` is the message of the error's
 * `originalError`: for a variable, graphql-js's message is `<prefix><value>[ at "<path>"]; <reason>`.
 */
export function withoutInputValues(message: string, reason: string | undefined): string {
  const variable = VARIABLE.exec(message);
  if (!variable) return withoutQuotedValue(message);
  const name = variable[1];
  const rest = message.slice(variable[0].length);
  // Without its reason the value cannot be told from the rest: nothing of it is kept.
  if (reason === undefined || !rest.endsWith(`; ${reason}`)) return `Variable "$${name}" has an invalid value.`;
  const valueAndPath = rest.slice(0, rest.length - reason.length - 2);
  const at = AT_PATH.exec(valueAndPath);
  const value = at ? valueAndPath.slice(0, at.index) : valueAndPath;
  let why = withoutQuotedValue(reason);
  // A custom scalar's own words may quote the value as graphql-js printed it.
  if (value.length >= MIN_ECHO) why = why.split(value).join('(the value)');
  return at
    ? `Variable "$${name}" got an invalid value at "${at[1]}": ${why}`
    : `Variable "$${name}" has an invalid value; ${why}`;
}
