/**
 * The protobuf wire format, only as far as the bridge needs it: change a few strings deep inside a
 * message and copy every other byte. A path is a list of field numbers from a message down; every
 * occurrence of each field on it is followed (repeated fields, and a message field sent twice, which
 * protobuf merges), only the messages on the path are parsed, and the lengths of the messages around
 * a changed value are written again. Anything that is not well-formed is a BRIDGE_ERR_REQUEST_BODY.
 */
import { BridgeError } from '../errors.js';

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/** Protobuf's largest field number (2^29 - 1). */
const MAX_FIELD = 536_870_911;

export interface WireField {
  number: number;
  wireType: number;
  /** Offset of the field's tag. */
  start: number;
  /** Offset of the value; for a length-delimited field, of its payload. */
  valueStart: number;
  /** Offset after the field. */
  end: number;
}

function malformed(message: string): never {
  throw new BridgeError('BRIDGE_ERR_REQUEST_BODY', `malformed protobuf: ${message}`);
}

/** A varint as a number: exact for tags and lengths (the only values read), up to 10 bytes as Go reads. */
function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) malformed('truncated varint');
    const byte = buf[pos++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, pos];
    scale *= 128;
  }
  return malformed('varint longer than 10 bytes');
}

export function encodeVarint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** One length-delimited field (tag, length, payload), to append to a message. */
export function lengthDelimited(number: number, payload: Uint8Array): Buffer {
  return Buffer.concat([encodeVarint(number * 8 + WIRE_LEN), encodeVarint(payload.length), payload]);
}

/** The fields of one message level, in order. Groups (wire types 3, 4) are refused: no Kubernetes type has them. */
export function parseFields(message: Uint8Array): WireField[] {
  const fields: WireField[] = [];
  let pos = 0;
  while (pos < message.length) {
    const start = pos;
    const [tag, afterTag] = readVarint(message, pos);
    const number = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (number < 1 || number > MAX_FIELD) malformed(`field number ${number}`);
    let valueStart = afterTag;
    let end: number;
    switch (wireType) {
      case WIRE_VARINT:
        end = readVarint(message, afterTag)[1];
        break;
      case WIRE_I64:
        end = afterTag + 8;
        break;
      case WIRE_I32:
        end = afterTag + 4;
        break;
      case WIRE_LEN: {
        const [length, payload] = readVarint(message, afterTag);
        valueStart = payload;
        end = payload + length;
        break;
      }
      default:
        return malformed(`wire type ${wireType} of field ${number}`);
    }
    if (end > message.length) malformed(`field ${number} runs past the end of its message`);
    fields.push({ number, wireType, start, valueStart, end });
    pos = end;
  }
  return fields;
}

/**
 * The message with some length-delimited fields replaced: `edit` sees every field (with its value's
 * bytes) and returns a length-delimited field's new payload, or undefined to keep its bytes. Returns
 * `message` itself when nothing changed.
 */
export function rewriteFields(message: Uint8Array, edit: (field: WireField, payload: Uint8Array) => Uint8Array | undefined): Uint8Array {
  const parts: Uint8Array[] = [];
  let copiedTo = 0;
  for (const field of parseFields(message)) {
    const payload = message.subarray(field.valueStart, field.end);
    const replaced = edit(field, payload);
    if (replaced === undefined || replaced === payload) continue;
    if (field.wireType !== WIRE_LEN) malformed(`field ${field.number} is not length-delimited`);
    // The tag is copied as it was; only the length and the payload are new.
    parts.push(message.subarray(copiedTo, field.start), message.subarray(field.start, tagEnd(message, field.start)), encodeVarint(replaced.length), replaced);
    copiedTo = field.end;
  }
  if (parts.length === 0) return message;
  parts.push(message.subarray(copiedTo));
  return Buffer.concat(parts);
}

function tagEnd(message: Uint8Array, start: number): number {
  return readVarint(message, start)[1];
}

/** The payload of every length-delimited field at `path`, in order; a field on the path of another wire type is malformed. */
export function messagesAt(message: Uint8Array, path: readonly number[]): Uint8Array[] {
  if (path.length === 0) return [message];
  const [head, ...rest] = path;
  const found: Uint8Array[] = [];
  for (const field of parseFields(message)) {
    if (field.number !== head) continue;
    if (field.wireType !== WIRE_LEN) malformed(`field ${head} is not length-delimited`);
    found.push(...messagesAt(message.subarray(field.valueStart, field.end), rest));
  }
  return found;
}

/** Replaces the payload of every length-delimited field at `path` (at least one field number) by `edit`'s answer. */
export function mapMessagesAt(message: Uint8Array, path: readonly number[], edit: (payload: Uint8Array) => Uint8Array): Uint8Array {
  const [head, ...rest] = path;
  return rewriteFields(message, (field, payload) => {
    if (field.number !== head) return undefined;
    if (field.wireType !== WIRE_LEN) malformed(`field ${head} is not length-delimited`);
    return rest.length === 0 ? edit(payload) : mapMessagesAt(payload, rest, edit);
  });
}

/** Every string at `path`, as UTF-8 (Go does not validate it; invalid bytes read as U+FFFD). */
export function stringsAt(message: Uint8Array, path: readonly number[]): string[] {
  return messagesAt(message, path).map((bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
}

/** Replaces every string at `path` by `map`'s answer; a value mapped to itself keeps its exact bytes. */
export function mapStringsAt(message: Uint8Array, path: readonly number[], map: (value: string) => string): Uint8Array {
  return mapMessagesAt(message, path, (bytes) => {
    const value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
    const mapped = map(value);
    return mapped === value ? bytes : Buffer.from(mapped, 'utf8');
  });
}
