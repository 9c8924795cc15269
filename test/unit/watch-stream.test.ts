import { describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import { isBridgeError } from '../../lib/errors.js';
import { followWatch, LineSplitter, WatchEventDecoder, WatchStreamError, type WatchEvent } from '../../lib/kube/watch-stream.js';

type Obj = { metadata: { name: string } };
const event = (type: string, name: string) => `${JSON.stringify({ type, object: { metadata: { name } } })}\n`;
const STREAM = event('ADDED', 'a') + event('MODIFIED', 'é') + '\n' + event('BOOKMARK', 'b') + event('DELETED', 'a');

/** Feeds `text` to a decoder cut into pieces of `size` bytes (multi-byte characters cut too). */
function decodeInPieces(text: string, size: number): WatchEvent<Obj>[] {
  const bytes = Buffer.from(text);
  const decoder = new WatchEventDecoder<Obj>();
  const events: WatchEvent<Obj>[] = [];
  for (let i = 0; i < bytes.length; i += size) decoder.push(bytes.subarray(i, i + size), (e) => events.push(e));
  decoder.end();
  return events;
}

function thrown(run: () => void): unknown {
  try {
    run();
  } catch (err) {
    return err;
  }
  throw new Error('nothing was thrown');
}

describe('LineSplitter', () => {
  it('frames the same lines whatever the chunk boundaries', () => {
    const text = 'one\ntwo\n\nthree\n';
    for (const size of [1, 2, 3, 5, 100]) {
      const splitter = new LineSplitter();
      const lines: string[] = [];
      const bytes = Buffer.from(text);
      for (let i = 0; i < bytes.length; i += size) splitter.push(bytes.subarray(i, i + size), (l) => lines.push(l.toString()));
      expect(lines).toEqual(['one', 'two', '', 'three']);
      expect(splitter.end().length).toBe(0);
    }
  });

  it('hands back what followed the last newline at the end', () => {
    const splitter = new LineSplitter();
    splitter.push(Buffer.from('a\npart'), () => undefined);
    splitter.push(Buffer.from('ial'), () => undefined);
    expect(splitter.end().toString()).toBe('partial');
  });

  it('refuses a line over the limit, as soon as it is buffered and before its newline arrives', () => {
    const splitter = new LineSplitter(8);
    const lines: string[] = [];
    splitter.push(Buffer.from('12345678\n1234'), (l) => lines.push(l.toString()));
    expect(lines).toEqual(['12345678']);
    const err = thrown(() => splitter.push(Buffer.from('56789'), () => undefined));
    expect(err).toBeInstanceOf(WatchStreamError);
    expect((err as WatchStreamError).problem).toBe('line-too-long');
    expect(isBridgeError(err, 'BRIDGE_ERR_KUBE_API')).toBe(true);
  });

  it('refuses an over-long line that lies within one chunk', () => {
    const err = thrown(() => new LineSplitter(4).push(Buffer.from('12345\n'), () => undefined));
    expect((err as WatchStreamError).problem).toBe('line-too-long');
  });
});

describe('WatchEventDecoder', () => {
  it('decodes the same typed events for every chunk size, multi-byte characters split included, skipping blank lines', () => {
    const whole = decodeInPieces(STREAM, STREAM.length);
    expect(whole.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED a', 'MODIFIED é', 'BOOKMARK b', 'DELETED a']);
    for (const size of [1, 2, 7, 13]) expect(decodeInPieces(STREAM, size)).toEqual(whole);
  });

  it('turns an ERROR event into a WatchStreamError with the Status code, after the events before it', () => {
    const decoder = new WatchEventDecoder<Obj>();
    const seen: string[] = [];
    const status = { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 1 (5)' };
    const err = thrown(() =>
      decoder.push(Buffer.from(event('ADDED', 'a') + `${JSON.stringify({ type: 'ERROR', object: status })}\n`), (e) => seen.push(e.type)),
    );
    expect(seen).toEqual(['ADDED']);
    expect(err).toMatchObject({ code: 'BRIDGE_ERR_KUBE_API', problem: 'error-event', status: 410 });
    expect((err as Error).message).toContain('too old resource version');
  });

  it('refuses a line that is not JSON, and one that is JSON but no event', () => {
    expect(thrown(() => new WatchEventDecoder().push(Buffer.from('{"type":\n'), () => undefined))).toMatchObject({ problem: 'not-an-event' });
    expect(thrown(() => new WatchEventDecoder().push(Buffer.from('{"type":"ADDED"}\n'), () => undefined))).toMatchObject({ problem: 'not-an-event' });
  });

  it('refuses a stream that ends inside an event (a trailing partial line), and accepts one that ends on a newline', () => {
    const decoder = new WatchEventDecoder<Obj>();
    const seen: string[] = [];
    decoder.push(Buffer.from(event('ADDED', 'a') + event('MODIFIED', 'a').slice(0, 20)), (e) => seen.push(e.type));
    expect(seen).toEqual(['ADDED']);
    expect(thrown(() => decoder.end())).toMatchObject({ code: 'BRIDGE_ERR_KUBE_API', problem: 'torn-line' });
    expect(decodeInPieces(event('ADDED', 'a'), 4)).toHaveLength(1);
  });

  it('bounds the line length', () => {
    const decoder = new WatchEventDecoder<Obj>(16);
    expect(thrown(() => decoder.push(Buffer.from(event('ADDED', 'a-name-longer-than-sixteen')), () => undefined))).toMatchObject({
      problem: 'line-too-long',
    });
  });
});

describe('followWatch', () => {
  it('delivers the events of a stream written in pieces and resolves ended once it ends cleanly', async () => {
    const body = new PassThrough();
    const seen: string[] = [];
    const watch = followWatch<Obj>(body, (e) => seen.push(`${e.type} ${e.object.metadata.name}`));
    const bytes = Buffer.from(STREAM);
    for (let i = 0; i < bytes.length; i += 5) body.write(bytes.subarray(i, i + 5));
    body.end();
    expect(await watch.ended).toBeUndefined();
    expect(seen).toEqual(['ADDED a', 'MODIFIED é', 'BOOKMARK b', 'DELETED a']);
  });

  it('ends with the ERROR event as a typed error and destroys the stream; later events are not delivered', async () => {
    const body = new PassThrough();
    const seen: string[] = [];
    const watch = followWatch<Obj>(body, (e) => seen.push(e.type));
    body.end(event('ADDED', 'a') + `${JSON.stringify({ type: 'ERROR', object: { code: 410, message: 'gone' } })}\n` + event('ADDED', 'b'));
    expect(await watch.ended).toMatchObject({ problem: 'error-event', status: 410 });
    expect(seen).toEqual(['ADDED']);
    expect(body.destroyed).toBe(true);
  });

  it('ends with torn-line when the answer ends inside an event', async () => {
    const body = new PassThrough();
    const watch = followWatch<Obj>(body, () => undefined);
    body.end(event('ADDED', 'a') + '{"type":"MOD');
    expect(await watch.ended).toMatchObject({ problem: 'torn-line' });
  });

  it("ends, without throwing, with a handler's error, a cut connection, silence, or stop()", async () => {
    const failing = followWatch<Obj>(new PassThrough().end(event('ADDED', 'a')), () => {
      throw new Error('handler failed');
    });
    expect(await failing.ended).toMatchObject({ message: 'handler failed' });

    const cut = new PassThrough();
    const cutWatch = followWatch<Obj>(cut, () => undefined);
    cut.destroy(new Error('ECONNRESET'));
    expect(await cutWatch.ended).toMatchObject({ message: 'ECONNRESET' });

    const silent = followWatch<Obj>(new PassThrough(), () => undefined, { silentMs: 20 });
    expect(await silent.ended).toMatchObject({ message: 'watch silent for 20 ms' });

    const stopped = new PassThrough();
    const stoppedWatch = followWatch<Obj>(stopped, () => undefined);
    stoppedWatch.stop();
    expect(await stoppedWatch.ended).toBeUndefined();
    expect(stopped.destroyed).toBe(true);
  });
});
