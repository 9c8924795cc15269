/**
 * JSON as kube-apiserver's encoder writes it (Go's encoding/json Encoder): `<`, `>`, `&`, U+2028 and
 * U+2029 escaped as \u00XX / \u20XX, and a newline after the value. The bridge's own answers and the
 * bodies it rewrites then match the API server's byte for byte (issue 20 item 5). These characters
 * appear in JSON text only inside strings, so escaping the serialized text is exact.
 */
const GO_ESCAPED = /[<>&\u2028\u2029]/g;

export function goJsonValue(value: unknown): string {
  return JSON.stringify(value).replace(GO_ESCAPED, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A whole response body: the value and the Encoder's newline. */
export function goJsonBody(value: unknown): string {
  return `${goJsonValue(value)}\n`;
}
